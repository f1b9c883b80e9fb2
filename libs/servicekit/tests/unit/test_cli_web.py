"""servicekit.cli `web` and servicekit.gcfreeze: each worker freezes the collector's view of its
built app."""
import gc

from gunicorn.app.base import BaseApplication

from servicekit import cli, gcfreeze


def test_freeze_what_is_alive_moves_the_live_objects_out_of_the_collectors_generations():
    built = {"built": [object() for _ in range(100)]}
    try:
        gcfreeze.freeze_what_is_alive()
        assert gc.get_freeze_count() >= 100
        assert not any(o is built for o in gc.get_objects())  # out of every generation
    finally:
        gc.unfreeze()


def test_each_web_worker_freezes_once_its_app_is_built(monkeypatch):
    events = []
    monkeypatch.setattr(cli, "load_object", lambda factory: lambda: events.append(("built", factory)) or "app")
    monkeypatch.setattr(gcfreeze, "freeze_what_is_alive", lambda: events.append(("frozen",)))
    loaded = []
    monkeypatch.setattr(BaseApplication, "run", lambda self: loaded.append(self.load()))
    cli.serve("probe.app:create_app", default_bind="127.0.0.1:9999")
    assert loaded == ["app"]
    assert events == [("built", "probe.app:create_app"), ("frozen",)]
