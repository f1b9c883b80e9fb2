import sys
from pathlib import Path

from servicekit.cli import ServiceCommands, main

from billing.settings import get_settings

COMMANDS = ServiceCommands(
    name="billing",
    default_port=8003,
    load_settings=get_settings,
    migrations_dir=Path(__file__).resolve().parent.parent / "migrations",
    app_factory="billing.app:create_app",
    worker_factory="billing.worker:create_worker",
    extra_modules=("billing.cli",),
)

if __name__ == "__main__":
    sys.exit(main(COMMANDS))
