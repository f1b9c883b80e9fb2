"""The services' URLs are checked when the settings load, not at the first call (ADR 0007 addendum 7)."""
import pytest

from servicekit.settings import ConfigError

from helpers import make_settings


@pytest.mark.parametrize("url", ["https://booking.internal", "booking:8002", "http://"])
def test_a_service_url_the_clients_cannot_call_is_refused_at_start_up(tmp_path, url, capsys):
    with pytest.raises(ConfigError):
        make_settings(tmp_path, BOOKING_URL=url)
    assert "BOOKING_URL must be a plain http:// URL" in capsys.readouterr().err


def test_plain_http_service_urls_load(tmp_path):
    settings = make_settings(tmp_path, BOOKING_URL="http://booking:8002/")
    assert settings.booking_url == "http://booking:8002"
