from servicekit.migrations import run_env

from demandes.models import Base

run_env(Base.metadata)
