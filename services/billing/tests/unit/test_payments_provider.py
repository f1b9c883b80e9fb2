"""The eopayment-backed provider, offline: the form it builds, the notifications it accepts.

Signatures in these tests are computed here from Systempay's published rule, independently of
eopayment: base64(HMAC-SHA-256(key, values of the vads_* fields sorted by name + "+" + key)).
"""
import base64
import hashlib
import hmac
from datetime import datetime, timezone
from urllib.parse import urlencode

import pytest

from billing.payments import (AmountOutOfRange, EopaymentProvider, InvalidNotification, PaymentProvider,
                              PaymentRequest, PaymentStatus, ProviderUnavailable, RequestRejected)

KEY = "TestKey0123456789abcdef"
OPTIONS = {"service_url": "https://bank.example/vads-payment/", "site_id": "87654321", "secret_test": KEY,
           "ctx_mode": "TEST", "signature_algo": "hmac_sha256"}
TX = "3f2b6c1e-5d7a-4e8f-9a0b-1c2d3e4f5a6b"


def spec_sign(fields: dict, key: str = KEY) -> str:
    values = [fields[k] for k in sorted(k for k in fields if k.startswith("vads_"))]
    message = "+".join([*values, key]).encode()
    return base64.b64encode(hmac.new(key.encode(), message, hashlib.sha256).digest()).decode()


def bank_message(status="AUTHORISED", result="00", auth="00", amount="1250", tx=TX, mode="TEST", key=KEY, **extra):
    fields = {"vads_site_id": "87654321", "vads_ctx_mode": mode, "vads_trans_id": "aB3dE9",
              "vads_trans_date": "20261006080000", "vads_amount": amount, "vads_currency": "978",
              "vads_result": result, "vads_auth_result": auth, "vads_extra_result": "", "vads_trans_status": status,
              "vads_trans_uuid": "0123456789abcdef0123456789abcdef",
              "vads_auth_number": "123456" if auth == "00" else "",
              "vads_effective_creation_date": "20261006080105", "vads_ext_info_eopayment_trans_id": tx,
              "vads_url_check_src": "PAY", "vads_hash": "ab" * 32, **extra}
    fields["signature"] = spec_sign(fields, key)
    return fields


@pytest.fixture
def provider():
    return EopaymentProvider("systempayv2", OPTIONS)


def request(amount=1250, **kw):
    return PaymentRequest(transaction_id=TX, amount_cents=amount, return_url="https://ef.example/paiements/retour",
                          notify_url="https://ef.example/paiements/notification", **kw)


# ------------------------------------------------------------------ start

def test_it_is_a_payment_provider(provider):
    assert isinstance(provider, PaymentProvider)


def test_start_builds_a_signed_form_for_the_bank_with_the_attempts_urls(provider):
    start = provider.start(request(label="Factures F-2026-09-0000123", order_id="F-2026-09-0000123",
                                   email="parent@example.org"))
    fields = dict(start.fields)
    assert start.is_form and start.method == "POST" and start.url == OPTIONS["service_url"]
    assert start.transaction_id == TX  # the id the bank's messages will carry back
    assert fields["vads_amount"] == "1250" and fields["vads_currency"] == "978"
    assert fields["vads_site_id"] == "87654321" and fields["vads_ctx_mode"] == "TEST"
    assert fields["vads_url_return"] == "https://ef.example/paiements/retour"
    assert fields["vads_url_check"] == "https://ef.example/paiements/notification"
    assert fields["vads_ext_info_eopayment_trans_id"] == TX
    assert fields["vads_order_id"] == "F-2026-09-0000123"
    assert fields["vads_order_info"] == "Factures F-2026-09-0000123"
    assert fields["vads_cust_email"] == "parent@example.org"
    assert fields["signature"] == spec_sign(fields)


def test_each_attempt_gets_its_own_bank_transaction_id(provider):
    first, second = dict(provider.start(request()).fields), dict(provider.start(request()).fields)
    assert first["vads_trans_id"] != second["vads_trans_id"]


@pytest.mark.parametrize("amount, words", [(0, "inférieurs à 0,01\u00a0€"),
                                           (100_000_01, "supérieurs à 100\u202f000,00\u00a0€")])
def test_amounts_outside_the_providers_range_are_refused_before_starting(provider, amount, words):
    with pytest.raises(AmountOutOfRange) as caught:
        provider.start(request(amount=amount))
    assert words in caught.value.detail


def test_configured_bounds_win_over_the_defaults():
    provider = EopaymentProvider("systempayv2", OPTIONS, min_amount_cents=100, max_amount_cents=5000)
    provider.check_amount(100)
    provider.check_amount(5000)
    for amount in (99, 5001):
        with pytest.raises(AmountOutOfRange):
            provider.check_amount(amount)


def test_payfip_bounds_come_from_eopayment():
    provider = EopaymentProvider("payfip_ws", {"numcli": "123456"})
    assert (provider.min_amount_cents, provider.max_amount_cents) == (100, 100_000_00)
    with pytest.raises(AmountOutOfRange, match="inférieurs à 1,00\u00a0€"):
        provider.check_amount(99)


def test_a_reference_the_bank_cannot_take_is_rejected_clearly(provider):
    with pytest.raises(RequestRejected, match="refuse cette demande"):
        provider.start(request(order_id="F 2026/09 é"))


# ------------------------------------------------------------------ notifications

def test_a_signed_paid_notification_gives_a_verified_outcome(provider):
    outcome = provider.parse_notification(urlencode(bank_message()).encode())
    assert outcome.transaction_id == TX
    assert outcome.status is PaymentStatus.PAID and outcome.proves_payment
    assert outcome.amount_cents == 1250
    assert outcome.bank_reference == "0123456789abcdef0123456789abcdef"
    assert outcome.source == "notification" and outcome.test
    assert outcome.transaction_date == datetime(2026, 10, 6, 8, 1, 5, tzinfo=timezone.utc)
    assert outcome.raw["vads_trans_status"] == "AUTHORISED"


@pytest.mark.parametrize("status, result, auth, expected", [
    ("REFUSED", "05", "05", PaymentStatus.REFUSED),
    ("ABANDONED", "17", "", PaymentStatus.CANCELLED),
    ("CANCELLED", "17", "", PaymentStatus.CANCELLED),
])
def test_unsuccessful_outcomes(provider, status, result, auth, expected):
    outcome = provider.parse_notification(urlencode(bank_message(status, result, auth)))
    assert outcome.status is expected and not outcome.proves_payment


@pytest.mark.parametrize("tamper", [
    lambda f: f.update(vads_amount="1"),  # a cheaper payment
    lambda f: f.update(vads_ext_info_eopayment_trans_id="another-attempt"),  # pays another attempt
    lambda f: f.update(vads_result="00", vads_trans_status="AUTHORISED"),  # a refusal turned into a payment
    lambda f: f.update(signature=spec_sign(f, "NotTheShopKey")),  # signed with another key
    lambda f: f.pop("signature"),
])
def test_forged_notifications_are_invalid(provider, tamper):
    fields = bank_message("REFUSED", "05", "05")
    tamper(fields)
    with pytest.raises(InvalidNotification):
        provider.parse_notification(urlencode(fields))


@pytest.mark.parametrize("body", [b"", b"hello", b"vads_amount=1250", "caf\xe9".encode("latin-1")])
def test_garbage_is_an_invalid_notification_not_a_crash(provider, body):
    with pytest.raises(InvalidNotification) as caught:
        provider.parse_notification(body)
    assert caught.value.detail.startswith("Notification de paiement")


def test_production_refuses_test_payments():
    provider = EopaymentProvider("systempayv2", {**OPTIONS, "secret_production": "ProdKey987"}, accept_test=False)
    with pytest.raises(InvalidNotification, match="paiement de test"):
        provider.parse_notification(urlencode(bank_message()))
    real = provider.parse_notification(urlencode(bank_message(mode="PRODUCTION", key="ProdKey987")))
    assert real.status is PaymentStatus.PAID and not real.test


def test_a_production_message_is_invalid_when_no_production_key_is_configured(provider):
    with pytest.raises(InvalidNotification):
        provider.parse_notification(urlencode(bank_message(mode="PRODUCTION", key="Whatever")))


# ------------------------------------------------------------------ browser return

def test_the_return_is_verified_but_never_proof_of_payment(provider):
    fields = bank_message()
    del fields["vads_url_check_src"], fields["vads_hash"]
    fields["signature"] = spec_sign(fields)
    outcome = provider.parse_return(urlencode(fields))
    assert outcome.status is PaymentStatus.PAID and outcome.source == "return" and not outcome.proves_payment
    assert provider.parse_return("") is None  # return mode NONE: nothing to read
    fields["vads_amount"] = "1"
    with pytest.raises(InvalidNotification):
        provider.parse_return(urlencode(fields))


# ------------------------------------------------------------------ status re-check

def test_systempay_cannot_be_asked_about_a_pending_payment(provider):
    assert not provider.can_check_status
    assert provider.check_status(TX, datetime.now(timezone.utc)) is None


def test_payfip_is_asked_through_eopayment(monkeypatch):
    from eopayment import payfip_ws

    def not_paid_yet(self, idop, timeout=None):
        raise payfip_ws.PayFiPError("P5", "transaction en cours")

    monkeypatch.setattr(payfip_ws.PayFiP, "get_info_paiement", not_paid_yet)
    provider = EopaymentProvider("payfip_ws", {"numcli": "123456"})
    assert provider.can_check_status
    outcome = provider.check_status("idop-42", datetime.now(timezone.utc))
    assert outcome.status is PaymentStatus.PENDING and outcome.source == "status_check"
    assert outcome.transaction_id == "idop-42"


def test_payfip_unreachable_is_reported_as_unavailable(monkeypatch):
    from eopayment import payfip_ws

    def down(self, idop, timeout=None):
        raise ConnectionError("no route to host")

    monkeypatch.setattr(payfip_ws.PayFiP, "get_info_paiement", down)
    provider = EopaymentProvider("payfip_ws", {"numcli": "123456"})
    with pytest.raises(ProviderUnavailable, match="indisponible"):
        provider.check_status("idop-42", datetime.now(timezone.utc))
    with pytest.raises(ProviderUnavailable):  # its notification is verified by asking the same service
        provider.parse_notification(b"idop=idop-42")
