import sys
from pathlib import Path

from servicekit.cli import ServiceCommands, main

from identity.app import create_app
from identity.oidc.commands import COMMANDS as OIDC_COMMANDS
from identity.settings import get_settings

COMMANDS = ServiceCommands(
    name="identity",
    default_port=8001,
    load_settings=get_settings,
    migrations_dir=Path(__file__).resolve().parent.parent / "migrations",
    app_factory=create_app,
    extra={**OIDC_COMMANDS},
)

if __name__ == "__main__":
    sys.exit(main(COMMANDS))
