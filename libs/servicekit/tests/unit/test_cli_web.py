"""servicekit.cli `web`: what each worker does with the app once built."""
import gc
from pathlib import Path

from servicekit import cli
from servicekit.settings import ServiceSettings


def test_freeze_after_load_moves_the_built_app_out_of_the_collectors_generations():
    app = {"built": [object() for _ in range(100)]}
    try:
        assert cli.freeze_after_load(app) is app
        frozen = gc.get_freeze_count()
        assert frozen >= 100
        assert not any(o is app for o in gc.get_objects())  # out of every generation
    finally:
        gc.unfreeze()


def test_web_passes_the_services_choice_on_to_serve(monkeypatch):
    served = []
    monkeypatch.setattr(cli, "serve", lambda factory, default_bind, freeze_gc=False: served.append(freeze_gc))
    monkeypatch.setattr(cli.logs, "configure", lambda *a, **kw: None)
    for freeze in (False, True):
        spec = cli.ServiceCommands(name="probe", default_port=9999, load_settings=lambda: ServiceSettings(),
                                   migrations_dir=Path("."), app_factory="probe.app:create_app", freeze_gc=freeze)
        assert cli.main(spec, ["web"]) == 0
    assert served == [False, True]

