import sys
from pathlib import Path

from servicekit.cli import ServiceCommands, main

from notify.app import create_app
from notify.settings import get_settings
from notify.worker import create_worker

COMMANDS = ServiceCommands(
    name="notify",
    default_port=8005,
    load_settings=get_settings,
    migrations_dir=Path(__file__).resolve().parent.parent / "migrations",
    app_factory=create_app,
    worker_factory=create_worker,
)

if __name__ == "__main__":
    sys.exit(main(COMMANDS))
