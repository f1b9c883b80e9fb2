import sys
from pathlib import Path

from servicekit.cli import ServiceCommands, main

from booking.settings import get_settings

COMMANDS = ServiceCommands(
    name="booking",
    default_port=8002,
    load_settings=get_settings,
    migrations_dir=Path(__file__).resolve().parent.parent / "migrations",
    app_factory="booking.app:create_app",
    worker_factory="booking.worker:create_worker",
    extra_modules=("booking.seed",),
)

if __name__ == "__main__":
    sys.exit(main(COMMANDS))
