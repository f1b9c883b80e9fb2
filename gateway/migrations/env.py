from servicekit.migrations import run_env

from gateway.sessions import metadata

run_env(metadata)
