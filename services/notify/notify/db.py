"""The notify database of this process."""
from functools import lru_cache

from servicekit.db import Database

from notify.settings import get_settings


@lru_cache
def get_db() -> Database:
    return Database(get_settings().database_url)
