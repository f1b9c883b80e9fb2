import sys
from pathlib import Path

from servicekit.cli import ServiceCommands, main

from notify.settings import get_settings

COMMANDS = ServiceCommands(
    name="notify",
    default_port=8005,
    load_settings=get_settings,
    migrations_dir=Path(__file__).resolve().parent.parent / "migrations",
    app_factory="notify.app:create_app",
    worker_factory="notify.worker:create_worker",
)

if __name__ == "__main__":
    sys.exit(main(COMMANDS))
