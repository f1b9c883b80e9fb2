from functools import lru_cache

from servicekit.settings import ServiceSettings, load

SERVICE = "identity"


class IdentitySettings(ServiceSettings):
    # Issuer of the OpenID Connect provider as browsers and relying parties see it
    # (through the gateway in `make run`).
    oidc_issuer: str = "http://127.0.0.1:8000/oidc"
    # Activation links expire after this many hours (field practice: 48 h, re-sendable).
    activation_ttl_hours: int = 48


@lru_cache
def get_settings() -> IdentitySettings:
    return load(IdentitySettings, SERVICE)
