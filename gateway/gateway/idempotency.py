"""Idempotency keys for the state-changing POSTs the gateway sends to the services.

A form that creates something carries a key made when the page is rendered
(`{{ idempotency() }}` from _forms.html); its POST hands that key to the service
(`clients.identity().post(..., idempotency_key=idempotency.submitted())`, sent as the
`Idempotency-Key` header). Submitting the same rendered form twice (a double click, the browser
resending, back then submit again) sends the same key, so the service can answer the second
time as it did the first without acting twice. Each rendering makes a new key: a form shown
again after an error is a new attempt. Cart actions do the same with a key per action.
The header's contract is in gateway/README.md ("Idempotency-Key").
"""
from __future__ import annotations

import re
import secrets

from flask import request

FIELD = "idempotency_key"
_VALID = re.compile(r"^[A-Za-z0-9_-]{16,64}$")


def new_key() -> str:
    return secrets.token_urlsafe(24)


def submitted() -> str:
    """The key of the submitted form; a new one when it is missing or malformed (an old page)."""
    key = request.form.get(FIELD, "")
    return key if _VALID.match(key) else new_key()
