"""The identity database of this process."""
from servicekit.db import database_of

from identity.settings import get_settings

get_db = database_of(get_settings)
