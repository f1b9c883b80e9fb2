"""`python -m gateway web`: each worker freezes the collector's view of its built app
(servicekit.cli.freeze_after_load; the /api path's CPU per request, ADR 0007)."""


def test_the_gateway_freezes_its_built_app():
    from gateway.__main__ import COMMANDS

    assert COMMANDS.freeze_gc is True
