import sys
from pathlib import Path

from servicekit.cli import ServiceCommands, main

from gateway.settings import get_settings

COMMANDS = ServiceCommands(
    name="gateway",
    default_port=8000,
    load_settings=get_settings,
    migrations_dir=Path(__file__).resolve().parent.parent / "migrations",
    app_factory="gateway.app:create_app",
)

if __name__ == "__main__":
    sys.exit(main(COMMANDS))
