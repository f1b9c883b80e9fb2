from functools import lru_cache

from servicekit.settings import ServiceSettings, load

SERVICE = "billing"


class BillingSettings(ServiceSettings):
    pass


@lru_cache
def get_settings() -> BillingSettings:
    return load(BillingSettings, SERVICE)
