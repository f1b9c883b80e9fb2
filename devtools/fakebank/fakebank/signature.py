"""The Systempay form signature, HMAC-SHA-256 flavour.

The values of every `vads_*` field, sorted by field name, joined with "+", then "+" and the
shop key; HMAC-SHA-256 of that with the same key; base64. The same computation signs the
payment form (merchant -> bank), the notification and the browser return (bank -> merchant).
"""
from __future__ import annotations

import base64
import hashlib
import hmac
from collections.abc import Mapping


def sign(fields: Mapping[str, str], key: str) -> str:
    values = [fields[name] for name in sorted(name for name in fields if name.startswith("vads_"))]
    message = "+".join([*values, key]).encode("utf-8")
    return base64.b64encode(hmac.new(key.encode("utf-8"), message, hashlib.sha256).digest()).decode("ascii")


def verify(fields: Mapping[str, str], key: str, signature: str) -> bool:
    return hmac.compare_digest(sign(fields, key).encode("ascii"), signature.encode("utf-8", "replace"))
