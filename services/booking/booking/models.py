"""Booking's tables."""
from servicekit.db import declarative_base

Base = declarative_base()
