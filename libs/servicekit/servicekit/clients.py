"""Calls from one service to another's internal API, as the platform itself (role `system`).

Most cross-service reads go through events (local projections); a few questions must be asked
at the moment they matter and answered by the service that owns the rule (booking asking
requests whether a child's dossier is complete before an enrolment). For those:

    client = InternalClient(settings.requests_url, "requests", settings.service_token_secret, "booking")
    status, body = client.get("/internal/dossier-status", params={...})

- a 60 s service token for a `system` caller named after the calling service, minted per call,
  addressed to the called service (its audience), the correlation id forwarded;
- short timeouts, one retry on a connection error (nothing reached the server), none on a read
  timeout; the caller's process stays free of proxies from the environment;
- anything that is not an answer the caller can act on (no connection, a timeout, a 5xx, a 401:
  the token was refused, a configuration fault) raises `Unreachable`; 2xx and other 4xx come
  back as (status, decoded JSON body or None).

Calls are synchronous (`requests`): run them off the event loop (`asyncio.to_thread`) from an
async operation, and never inside a database transaction.
"""
from __future__ import annotations

import logging
from typing import Any

import requests as http
from requests.adapters import HTTPAdapter
from urllib3.util.retry import Retry

from servicekit import context, tokens

log = logging.getLogger(__name__)


class Unreachable(Exception):
    """The other service gave no usable answer (down, slow, failing, or refusing our token)."""


class InternalClient:
    def __init__(self, base_url: str, audience: str, secret: str, caller_name: str,
                 connect_timeout: float = 2.0, read_timeout: float = 5.0):
        self.base_url = base_url.rstrip("/")
        self.audience = audience
        self.secret = secret
        self.caller = tokens.Caller(sub=caller_name, role="system")
        self.timeout = (connect_timeout, read_timeout)
        self.session = http.Session()
        self.session.trust_env = False
        adapter = HTTPAdapter(max_retries=Retry(total=1, connect=1, read=0, status=0, redirect=0,
                                                backoff_factor=0.1, raise_on_status=False))
        self.session.mount("http://", adapter)
        self.session.mount("https://", adapter)

    def get(self, path: str, params: dict[str, Any] | None = None) -> tuple[int, Any]:
        headers = {"Authorization": f"Bearer {tokens.mint(self.caller, self.audience, self.secret)}",
                   "Accept": "application/json"}
        correlation_id = context.get_correlation_id()
        if correlation_id:
            headers[context.HEADER] = correlation_id
        try:
            resp = self.session.get(self.base_url + path, params=params, headers=headers, timeout=self.timeout)
        except http.RequestException as exc:
            log.warning("%s unreachable: %s", self.audience, exc)
            raise Unreachable(f"{self.audience}: {exc.__class__.__name__}") from exc
        if resp.status_code >= 500 or resp.status_code == 401:
            log.warning("%s answered %s to %s", self.audience, resp.status_code, path)
            raise Unreachable(f"{self.audience} answered {resp.status_code}")
        try:
            body = resp.json() if resp.content else None
        except ValueError as exc:
            raise Unreachable(f"{self.audience} answered {resp.status_code} without JSON") from exc
        return resp.status_code, body

    def close(self) -> None:
        self.session.close()
