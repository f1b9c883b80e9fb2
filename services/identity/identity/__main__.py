import sys

from servicekit.cli import ServiceCommands, main

from identity.settings import get_settings

COMMANDS = ServiceCommands.for_package("identity", "identity", 8001, get_settings, extra_modules=("identity.oidc.commands", "identity.seed", "identity.agents"))

if __name__ == "__main__":
    sys.exit(main(COMMANDS))
