#!/bin/sh
# Runs `python -m <package> <command>` for the component this image was built for.
# Without a command: `web` for the services and the gateway, nothing for the mail catcher.
set -eu
pkg="$(cat /etc/espace-famille/package)"
if [ "$#" -eq 0 ] && [ "$pkg" != "mailcatcher" ]; then
    set -- web
fi
exec python -m "$pkg" "$@"
