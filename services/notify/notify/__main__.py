import sys

from servicekit.cli import ServiceCommands, main

from notify.settings import get_settings

COMMANDS = ServiceCommands.for_package("notify", "notify", 8005, get_settings)

if __name__ == "__main__":
    sys.exit(main(COMMANDS))
