import pytest

from servicekit.settings import DEV_SERVICE_TOKEN_SECRET, ConfigError, ServiceSettings, load


def test_development_defaults_to_sqlite_under_var_dir(tmp_path):
    s = load(ServiceSettings, "booking", env={"EF_VAR_DIR": str(tmp_path)})
    assert s.database_url == f"sqlite:///{tmp_path / 'booking.db'}"
    assert s.service_token_secret == DEV_SERVICE_TOKEN_SECRET


def test_service_specific_database_url_wins():
    s = load(ServiceSettings, "booking", env={"DATABASE_URL": "sqlite:///a.db", "BOOKING_DATABASE_URL": "sqlite:///b.db"})
    assert s.database_url == "sqlite:///b.db"


def test_production_requires_database_and_secret(capsys):
    with pytest.raises(ConfigError):
        load(ServiceSettings, "booking", env={"EF_ENV": "production"})
    err = capsys.readouterr().err
    assert "booking: invalid configuration" in err and "DATABASE_URL is required in production" in err


def test_production_refuses_short_secret(capsys):
    env = {"EF_ENV": "production", "DATABASE_URL": "postgresql://x/y", "SERVICE_TOKEN_SECRET": "short"}
    with pytest.raises(ConfigError):
        load(ServiceSettings, "booking", env=env)
    assert "at least 32 characters" in capsys.readouterr().err


def test_invalid_value_is_named(capsys):
    with pytest.raises(ConfigError):
        load(ServiceSettings, "booking", env={"EF_ENV": "staging"})
    assert "EF_ENV" in capsys.readouterr().err


def test_messaging_limits_come_from_the_environment(tmp_path):
    s = load(ServiceSettings, "booking", env={"EF_VAR_DIR": str(tmp_path), "OUTBOX_MAX_ATTEMPTS": "5",
                                              "INBOX_RETENTION_DAYS": "45"})
    assert (s.outbox_max_attempts, s.inbox_retention_days) == (5, 45)
    defaults = load(ServiceSettings, "booking", env={"EF_VAR_DIR": str(tmp_path)})
    assert (defaults.outbox_max_attempts, defaults.inbox_retention_days) == (20, 30)


@pytest.mark.parametrize("name, value", [("OUTBOX_MAX_ATTEMPTS", "0"), ("INBOX_RETENTION_DAYS", "0"),
                                         ("OUTBOX_RETENTION_HOURS", "-1")])
def test_messaging_limits_must_be_positive(name, value, tmp_path, capsys):
    with pytest.raises(ConfigError):
        load(ServiceSettings, "booking", env={"EF_VAR_DIR": str(tmp_path), name: value})
    assert name in capsys.readouterr().err
