"""The gateway's public invoices API, called with the parent's access token (scope invoices:read)."""
from __future__ import annotations

import logging

import requests

log = logging.getLogger(__name__)

TIMEOUT = (3.05, 15)


class TokenRejected(Exception):
    """401: the access token expired or was revoked (identity's session ended): sign in again."""


class NoFamily(Exception):
    """403: the account has no family (or the token lacks invoices:read)."""

    def __init__(self, detail: str):
        super().__init__(detail)
        self.detail = detail


class Unavailable(Exception):
    """The gateway or billing did not answer usefully."""


class InvoicesApi:
    def __init__(self, base_url: str):
        self.base_url = base_url.rstrip("/") + "/api"
        self.http = requests.Session()
        self.http.trust_env = False

    def _get(self, path: str, access_token: str, params: dict | None = None) -> dict:
        try:
            resp = self.http.get(self.base_url + path, params=params, timeout=TIMEOUT,
                                 headers={"Authorization": f"Bearer {access_token}", "Accept": "application/json"})
        except requests.RequestException as exc:
            log.warning("gateway unreachable: %s", exc)
            raise Unavailable(str(exc)) from exc
        if resp.status_code == 401:
            raise TokenRejected()
        if resp.status_code == 403:
            raise NoFamily(_detail(resp) or "Ce compte ne permet pas de consulter des factures.")
        if resp.status_code != 200:
            log.warning("gateway answered %s on %s", resp.status_code, path)
            raise Unavailable(f"HTTP {resp.status_code}")
        try:
            return resp.json()
        except ValueError as exc:
            raise Unavailable("not JSON") from exc

    def list(self, access_token: str, status: str) -> dict:
        """One page of the family's documents with `status` (to_pay, paid, credit)."""
        return self._get("/invoices", access_token, {"status": status, "per_page": 50})

def _detail(resp) -> str | None:
    try:
        body = resp.json()
    except ValueError:
        return None
    return body.get("detail") if isinstance(body, dict) else None
