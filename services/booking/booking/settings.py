from functools import lru_cache

from servicekit.settings import ServiceSettings, load

SERVICE = "booking"


class BookingSettings(ServiceSettings):
    pass


@lru_cache
def get_settings() -> BookingSettings:
    return load(BookingSettings, SERVICE)
