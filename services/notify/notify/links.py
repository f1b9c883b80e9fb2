"""Links to the gateway's pages, one place for every e-mail (paths of the French web UI).

Events from requests carry their own page's link; the others are built here from
PUBLIC_URL. Keep these paths in step with the gateway's routes.
"""
from __future__ import annotations

PATHS = {
    "home": "/",
    "bookings": "/reservations",
    "cart": "/reservations/panier",
    "invoices": "/factures",
    "requests": "/demandes",
    "preferences": "/famille/notifications",
    "agent_requests": "/agent/demandes",
}


class Links:
    def __init__(self, public_url: str):
        self.base = public_url.rstrip("/")

    def __getattr__(self, name: str) -> str:
        try:
            path = PATHS[name]
        except KeyError:
            raise AttributeError(name) from None
        return self.base + path if path != "/" else self.base + "/"

    def invoice(self, invoice_id: str) -> str:
        return f"{self.base}/factures/{invoice_id}"
