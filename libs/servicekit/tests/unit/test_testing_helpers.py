"""The context managers the services' testkits build their fixtures from."""
from __future__ import annotations

import os
import sys
import types

import pytest

from servicekit.testing import environment, service_app


def test_environment_sets_unsets_and_restores(monkeypatch):
    monkeypatch.setenv("SK_TEST_KEPT", "before")
    monkeypatch.delenv("SK_TEST_NEW", raising=False)
    with environment({"SK_TEST_KEPT": None, "SK_TEST_NEW": "during"}):
        assert "SK_TEST_KEPT" not in os.environ and os.environ["SK_TEST_NEW"] == "during"
    assert os.environ["SK_TEST_KEPT"] == "before" and "SK_TEST_NEW" not in os.environ


def test_environment_restores_after_an_error(monkeypatch):
    monkeypatch.setenv("SK_TEST_KEPT", "before")
    with pytest.raises(RuntimeError), environment({"SK_TEST_KEPT": "during"}):
        raise RuntimeError
    assert os.environ["SK_TEST_KEPT"] == "before"


class _Cached:
    def __init__(self):
        self.clears = 0

    def cache_clear(self):
        self.clears += 1


def _fake_service(monkeypatch, name: str):
    """A package shaped like a service: settings.get_settings, db.get_db, app.create_app."""
    settings, db, app = (types.ModuleType(f"{name}.{part}") for part in ("settings", "db", "app"))
    settings.get_settings, db.get_db = _Cached(), _Cached()
    disposed = []

    def create_app():
        application = types.SimpleNamespace(env=os.environ.get("SK_FAKE_URL"), clears=settings.get_settings.clears,
                                            db=types.SimpleNamespace(dispose=lambda: disposed.append(True)))
        return application

    app.create_app = create_app
    monkeypatch.setitem(sys.modules, name, types.ModuleType(name))
    for module in (settings, db, app):
        monkeypatch.setitem(sys.modules, module.__name__, module)
    return settings, db, disposed


def test_service_app_builds_from_its_environment_with_fresh_caches(monkeypatch):
    settings, db, disposed = _fake_service(monkeypatch, "sk_fake_service")
    monkeypatch.delenv("SK_FAKE_URL", raising=False)
    with service_app("sk_fake_service", {"SK_FAKE_URL": "postgresql://x/y"}) as application:
        assert application.env == "postgresql://x/y"
        assert application.clears == 1  # cleared before the app read its settings
    assert disposed == [True]
    assert settings.get_settings.clears == 2 and db.get_db.clears == 2  # and again for the next module
    assert "SK_FAKE_URL" not in os.environ
