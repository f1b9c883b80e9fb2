import sys
from pathlib import Path

from servicekit.cli import ServiceCommands, main

from identity.settings import get_settings

COMMANDS = ServiceCommands(
    name="identity",
    default_port=8001,
    load_settings=get_settings,
    migrations_dir=Path(__file__).resolve().parent.parent / "migrations",
    app_factory="identity.app:create_app",
    worker_factory="identity.worker:create_worker",
    extra_modules=("identity.oidc.commands", "identity.seed", "identity.agents"),
)

if __name__ == "__main__":
    sys.exit(main(COMMANDS))
