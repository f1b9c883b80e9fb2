import sys
from pathlib import Path

from servicekit.cli import ServiceCommands, main

from identity.app import create_app
from identity.oidc.commands import COMMANDS as OIDC_COMMANDS
from identity.seed import COMMANDS as ACCOUNT_COMMANDS
from identity.settings import get_settings
from identity.worker import create_worker

COMMANDS = ServiceCommands(
    name="identity",
    default_port=8001,
    load_settings=get_settings,
    migrations_dir=Path(__file__).resolve().parent.parent / "migrations",
    app_factory=create_app,
    worker_factory=create_worker,
    extra={**OIDC_COMMANDS, **ACCOUNT_COMMANDS},
)

if __name__ == "__main__":
    sys.exit(main(COMMANDS))
