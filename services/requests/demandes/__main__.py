import sys
from pathlib import Path

from servicekit.cli import ServiceCommands, main

from demandes.settings import get_settings

COMMANDS = ServiceCommands(
    name="requests",
    default_port=8004,
    load_settings=get_settings,
    migrations_dir=Path(__file__).resolve().parent.parent / "migrations",
    app_factory="demandes.app:create_app",
    worker_factory="demandes.worker:create_worker",
    extra_modules=("demandes.seed",),
)

if __name__ == "__main__":
    sys.exit(main(COMMANDS))
