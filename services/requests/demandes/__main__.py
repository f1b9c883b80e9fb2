import sys

from servicekit.cli import ServiceCommands, main

from demandes.settings import get_settings

COMMANDS = ServiceCommands.for_package("demandes", "requests", 8004, get_settings, extra_modules=("demandes.seed",))

if __name__ == "__main__":
    sys.exit(main(COMMANDS))
