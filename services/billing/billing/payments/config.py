"""Which payment provider billing uses, from environment variables only.

    BILLING_PAYMENT_BACKEND        eopayment backend: systempayv2 (default), payzen, payfip_ws...
    BILLING_PAYMENT_OPTIONS        JSON object of that backend's options (no secrets needed here)
    BILLING_PAYMENT_OPTION_<NAME>  one option each, e.g. BILLING_PAYMENT_OPTION_SECRET_PRODUCTION;
                                   wins over the JSON (keep secrets in these)
    BILLING_PAYMENT_MIN_CENTS      override the provider's minimum / maximum amount
    BILLING_PAYMENT_MAX_CENTS
    BILLING_PAYMENT_ACCEPT_TEST    on/off: count payments made in the provider's test mode
                                   (default: on, off when EF_ENV=production)

With none of the first two set and EF_ENV not production, billing talks to the simulated bank
(devtools/fakebank) at FAKEBANK_URL (default http://127.0.0.1:<EF_PORT_BASE + 90>).
"""
from __future__ import annotations

import json
import os
from collections.abc import Mapping

import eopayment
from servicekit.settings import ConfigError

from billing.payments.eopayment_provider import EopaymentProvider

PREFIX = "BILLING_PAYMENT_"
OPTION_PREFIX = "BILLING_PAYMENT_OPTION_"
# The simulated bank's development shop (devtools/fakebank/fakebank/__main__.py has the same two
# values). Public, so refused in production.
DEV_SITE_ID = "12345678"
DEV_KEY_TEST = "DevOnlyFakeBankTestKey0123456789"
# Set per attempt by the provider, never from configuration.
_PER_ATTEMPT = {"normal_return_url", "automatic_return_url"}


def fakebank_url(env: Mapping[str, str]) -> str:
    if env.get("FAKEBANK_URL"):
        return env["FAKEBANK_URL"].rstrip("/")
    return f"http://127.0.0.1:{int(env.get('EF_PORT_BASE') or 8000) + 90}"


def development_options(env: Mapping[str, str]) -> dict[str, str]:
    return {"service_url": f"{fakebank_url(env)}/vads-payment/", "site_id": DEV_SITE_ID, "secret_test": DEV_KEY_TEST,
            "ctx_mode": "TEST", "signature_algo": "hmac_sha256"}


def provider_from_env(env: Mapping[str, str] | None = None) -> EopaymentProvider:
    """The configured provider, or ConfigError (the process stops with the message)."""
    env = os.environ if env is None else env
    production = env.get("EF_ENV", "development") == "production"
    backend = env.get(f"{PREFIX}BACKEND", "").strip()
    raw_options = env.get(f"{PREFIX}OPTIONS", "").strip()
    explicit = {k[len(OPTION_PREFIX):].lower(): v for k, v in env.items() if k.startswith(OPTION_PREFIX)}
    if not backend and not raw_options and not explicit:
        if production:
            raise ConfigError("BILLING_PAYMENT_BACKEND is required in production (see services/billing/README.md, "
                              "\"Online payment\")")
        backend, options = "systempayv2", development_options(env)
    else:
        backend = backend or "systempayv2"
        options = _json_options(raw_options)
        options.update(explicit)
    if backend not in eopayment.get_backends():
        raise ConfigError(f"BILLING_PAYMENT_BACKEND: unknown eopayment backend {backend!r} "
                          f"(one of {', '.join(sorted(eopayment.get_backends()))})")
    _check_options(backend, options, production)
    return EopaymentProvider(
        backend, options,
        min_amount_cents=_cents_var(env, "MIN_CENTS"),
        max_amount_cents=_cents_var(env, "MAX_CENTS"),
        accept_test=_flag(env, "ACCEPT_TEST", default=not production),
    )


def _json_options(raw: str) -> dict:
    if not raw:
        return {}
    try:
        options = json.loads(raw)
    except json.JSONDecodeError as exc:
        raise ConfigError(f"BILLING_PAYMENT_OPTIONS is not valid JSON: {exc}")
    if not isinstance(options, dict):
        raise ConfigError("BILLING_PAYMENT_OPTIONS must be a JSON object of eopayment options")
    return options


def _check_options(backend: str, options: dict, production: bool) -> None:
    bare = {name.removeprefix("vads_") for name in options}
    set_here = _PER_ATTEMPT & bare
    if set_here:
        raise ConfigError(f"BILLING_PAYMENT_OPTIONS: {', '.join(sorted(set_here))} are set per payment by billing; "
                          "remove them from the configuration")
    missing = []
    for parameter in eopayment.get_backend(backend).description["parameters"]:
        name = parameter["name"].removeprefix("vads_")
        if (parameter.get("required") and parameter.get("default") in (None, "") and name not in _PER_ATTEMPT
                and name not in bare):
            missing.append(name)
    if missing:
        raise ConfigError(f"payment backend {backend}: missing option(s) {', '.join(missing)} "
                          f"(BILLING_PAYMENT_OPTIONS or BILLING_PAYMENT_OPTION_<NAME>)")
    if production and DEV_KEY_TEST in {str(v) for v in options.values()}:
        raise ConfigError("payment backend: the simulated bank's public development key cannot be used in production")


def _cents_var(env: Mapping[str, str], name: str) -> int | None:
    raw = env.get(PREFIX + name, "").strip()
    if not raw:
        return None
    if not raw.isdigit():
        raise ConfigError(f"{PREFIX}{name} must be a whole number of cents, not {raw!r}")
    return int(raw)


def _flag(env: Mapping[str, str], name: str, default: bool) -> bool:
    raw = env.get(PREFIX + name, "").strip().lower()
    if not raw:
        return default
    if raw in ("1", "on", "true", "yes"):
        return True
    if raw in ("0", "off", "false", "no"):
        return False
    raise ConfigError(f"{PREFIX}{name} must be on or off, not {raw!r}")
