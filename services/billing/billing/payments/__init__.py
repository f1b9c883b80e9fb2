"""Online payment: the platform's provider interface and its eopayment implementation.

    from billing.payments import provider_from_env, PaymentRequest
    provider = provider_from_env()           # once, at start
    start = provider.start(PaymentRequest(...))
    outcome = provider.parse_notification(body)
"""
from billing.payments.config import provider_from_env
from billing.payments.eopayment_provider import EopaymentProvider
from billing.payments.provider import (
    AmountOutOfRange,
    InvalidNotification,
    PaymentError,
    PaymentOutcome,
    PaymentProvider,
    PaymentRequest,
    PaymentStart,
    PaymentStatus,
    ProviderUnavailable,
    RequestRejected,
)

__all__ = [
    "AmountOutOfRange", "EopaymentProvider", "InvalidNotification", "PaymentError", "PaymentOutcome",
    "PaymentProvider", "PaymentRequest", "PaymentStart", "PaymentStatus", "ProviderUnavailable", "RequestRejected",
    "provider_from_env",
]
