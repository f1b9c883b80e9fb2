"""The payment provider of this process: built once from the environment (billing.payments.config).

Tests (and the bench) replace it with `use_provider(...)`."""
from __future__ import annotations

from billing.payments import PaymentProvider, provider_from_env

_provider: PaymentProvider | None = None


def get_provider() -> PaymentProvider:
    global _provider
    if _provider is None:
        _provider = provider_from_env()
    return _provider


def use_provider(provider: PaymentProvider | None) -> None:
    global _provider
    _provider = provider
