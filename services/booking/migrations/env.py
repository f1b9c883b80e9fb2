from servicekit.migrations import run_env

from booking.models import Base

run_env(Base.metadata)
