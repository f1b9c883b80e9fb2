from datetime import timedelta

import pytest

from servicekit.settings import ConfigError, load
from notify.sending import retry_delay
from notify.settings import NotifySettings


def test_defaults_use_the_mail_catcher_and_the_platform_sender(tmp_path):
    s = load(NotifySettings, "notify", {"EF_VAR_DIR": str(tmp_path)})
    assert (s.smtp_host, s.smtp_port) == ("127.0.0.1", 1025)
    assert s.notify_from == "Espace Famille <no-reply@espace-famille.localhost>"


def test_a_sender_without_address_stops_the_process(tmp_path, capsys):
    with pytest.raises(ConfigError):
        load(NotifySettings, "notify", {"EF_VAR_DIR": str(tmp_path), "NOTIFY_FROM": "Espace Famille"})
    assert "NOTIFY_FROM" in capsys.readouterr().err


def test_retry_delay_doubles_and_is_capped(tmp_path):
    s = load(NotifySettings, "notify", {"EF_VAR_DIR": str(tmp_path), "NOTIFY_RETRY_BASE_SECONDS": "30",
                                        "NOTIFY_RETRY_CAP_SECONDS": "100"})
    assert [retry_delay(s, n) for n in (1, 2, 3, 4)] == [timedelta(seconds=30), timedelta(seconds=60),
                                                         timedelta(seconds=100), timedelta(seconds=100)]
