import sys

from servicekit.cli import ServiceCommands, main

from booking.settings import get_settings

COMMANDS = ServiceCommands.for_package("booking", "booking", 8002, get_settings, extra_modules=("booking.seed",))

if __name__ == "__main__":
    sys.exit(main(COMMANDS))
