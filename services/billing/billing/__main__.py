import sys

from servicekit.cli import ServiceCommands, main

from billing.settings import get_settings

COMMANDS = ServiceCommands.for_package("billing", "billing", 8003, get_settings, extra_modules=("billing.cli", "billing.seed"))

if __name__ == "__main__":
    sys.exit(main(COMMANDS))
