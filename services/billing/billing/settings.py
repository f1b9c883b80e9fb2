import os

from servicekit.settings import ServiceSettings, settings_loader

SERVICE = "billing"


def _own_url() -> str:
    return f"http://127.0.0.1:{int(os.environ.get('EF_PORT_BASE') or 8000) + 3}"


class BillingSettings(ServiceSettings):
    # Where the payment provider's server-to-server notification reaches billing's
    # POST /internal/payments/notify (in production: the public URL the gateway or ingress
    # routes to it). Default: billing itself on this machine (the simulated bank is local).
    billing_notify_url: str = ""
    # Invoicing schedule and payment re-check (worker jobs), seconds between runs.
    billing_recheck_interval: float = 60.0
    billing_schedule_interval: float = 3600.0

    def notify_url(self) -> str:
        return self.billing_notify_url or f"{_own_url()}/internal/payments/notify"


get_settings = settings_loader(BillingSettings, SERVICE)
