
from pydantic import Field
from pydantic import model_validator

from servicekit.forwarded import DEFAULT_TRUSTED
from servicekit.settings import ServiceSettings, settings_loader

SERVICE = "identity"


class IdentitySettings(ServiceSettings):
    # Issuer of the OpenID Connect provider as browsers and relying parties see it
    # (through the gateway in `make run`).
    oidc_issuer: str = "http://127.0.0.1:8000/oidc"
    # Activation links expire after this many hours (field practice: 48 h, re-sendable).
    activation_ttl_hours: int = 48
    # OpenID Connect provider lifetimes (seconds). Access tokens are short because the gateway
    # verifies them offline against the JWKS; codes are single-use and short per OIDC practice.
    oidc_access_token_ttl: int = Field(300, ge=30, le=900)
    oidc_code_ttl: int = Field(60, ge=5, le=60)
    oidc_id_token_ttl: int = Field(600, ge=60, le=3600)
    # A refresh-token family never outlives the SSO session's absolute lifetime.
    oidc_refresh_token_ttl: int = Field(12 * 3600, ge=300, le=12 * 3600)
    # Back-channel logout POSTs to relying parties give up after this many seconds.
    oidc_backchannel_timeout: float = Field(2.0, gt=0, le=10)
    # Retention (days) of what only matters for a while after it ends (worker job, hourly):
    # OIDC codes, tokens, form tickets and logout records after they expired or ended;
    # SSO sessions after they ended or expired; reset and TOTP enrolment links after they died.
    oidc_retention_days: int = Field(7, ge=1)
    sso_session_retention_days: int = Field(30, ge=1)
    signin_link_retention_days: int = Field(30, ge=1)
    # Signs identity's own Flask session cookie (CSRF tokens, a sign-in in progress).
    # Env IDENTITY_SECRET_KEY; required (>= 32 characters) in production.
    identity_secret_key: str = ""
    # Proxies whose X-Forwarded-For/-Proto identity believes (the gateway): addresses or
    # networks, comma-separated (servicekit.forwarded); anybody else's are ignored, so the
    # sign-in throttle counts per real client. The same variable configures gunicorn/uvicorn.
    forwarded_allow_ips: str = DEFAULT_TRUSTED

    @model_validator(mode="after")
    def _identity_secret_key_rules(self):
        if not self.identity_secret_key:
            if self.is_production:
                raise ValueError("IDENTITY_SECRET_KEY is required in production")
            self.identity_secret_key = "dev-only-identity-secret-key-change-me"
        elif self.is_production and len(self.identity_secret_key) < 32:
            raise ValueError("IDENTITY_SECRET_KEY must be at least 32 characters in production")
        return self


get_settings = settings_loader(IdentitySettings, SERVICE)
