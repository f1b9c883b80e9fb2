from functools import lru_cache

from servicekit.settings import ServiceSettings, load

SERVICE = "requests"


class RequestsSettings(ServiceSettings):
    pass


@lru_cache
def get_settings() -> RequestsSettings:
    return load(RequestsSettings, SERVICE)
