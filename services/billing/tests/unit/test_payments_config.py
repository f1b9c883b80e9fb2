"""Choosing the payment provider from the environment: the simulated bank in development, a real
Systempay shop or PayFiP by configuration only, and refusals that name the variable."""
import json

import pytest
from servicekit.settings import ConfigError

from billing.payments import PaymentRequest, provider_from_env
from billing.payments.config import DEV_KEY_TEST, DEV_SITE_ID

REQUEST = PaymentRequest(transaction_id="tx-1", amount_cents=500, return_url="http://127.0.0.1:8000/r",
                         notify_url="http://127.0.0.1:8000/n", email="parent@example.org")


def fields_of(provider) -> dict:
    start = provider.start(REQUEST)
    return {"url": start.url, **dict(start.fields)}


def test_development_defaults_to_the_simulated_bank_at_port_base_plus_90():
    fields = fields_of(provider_from_env({"EF_PORT_BASE": "9100"}))
    assert fields["url"] == "http://127.0.0.1:9190/vads-payment/"
    assert fields["vads_site_id"] == DEV_SITE_ID and fields["vads_ctx_mode"] == "TEST"
    elsewhere = fields_of(provider_from_env({"FAKEBANK_URL": "http://bank:8090/"}))
    assert elsewhere["url"] == "http://bank:8090/vads-payment/"


def test_development_defaults_match_the_simulated_banks_own():
    fakebank = pytest.importorskip("fakebank.__main__")
    assert (fakebank.DEV_SITE_ID, fakebank.DEV_KEY_TEST) == (DEV_SITE_ID, DEV_KEY_TEST)


def test_production_needs_an_explicit_provider():
    with pytest.raises(ConfigError, match="BILLING_PAYMENT_BACKEND is required in production"):
        provider_from_env({"EF_ENV": "production"})


def test_a_real_systempay_shop_is_configuration_only():
    env = {"EF_ENV": "production", "BILLING_PAYMENT_BACKEND": "systempayv2",
           "BILLING_PAYMENT_OPTIONS": json.dumps({"site_id": "11223344", "ctx_mode": "PRODUCTION",
                                                  "signature_algo": "hmac_sha256", "secret_test": "TestKeyAbc"}),
           "BILLING_PAYMENT_OPTION_SECRET_PRODUCTION": "ProdKeyXyz987"}
    provider = provider_from_env(env)
    fields = fields_of(provider)
    assert fields["url"] == "https://paiement.systempay.fr/vads-payment/"  # eopayment's default
    assert fields["vads_site_id"] == "11223344" and fields["vads_ctx_mode"] == "PRODUCTION"
    assert not provider._accept_test  # production counts real payments only, unless told otherwise
    assert provider_from_env({**env, "BILLING_PAYMENT_ACCEPT_TEST": "on"})._accept_test


def test_payfip_is_configuration_only():
    provider = provider_from_env({"BILLING_PAYMENT_BACKEND": "payfip_ws", "BILLING_PAYMENT_OPTION_NUMCLI": "123456",
                                  "BILLING_PAYMENT_OPTION_SAISIE": "T"})
    assert provider.name == "payfip_ws" and provider.can_check_status
    assert (provider.min_amount_cents, provider.max_amount_cents) == (100, 100_000_00)


@pytest.mark.parametrize("env, words", [
    ({"BILLING_PAYMENT_BACKEND": "nobank"}, "unknown eopayment backend 'nobank'"),
    ({"BILLING_PAYMENT_BACKEND": "payfip_ws"}, "missing option(s) numcli"),
    ({"BILLING_PAYMENT_BACKEND": "systempayv2", "BILLING_PAYMENT_OPTION_SITE_ID": "1"},
     "missing option(s) secret_test"),
    ({"BILLING_PAYMENT_OPTIONS": "{not json"}, "BILLING_PAYMENT_OPTIONS is not valid JSON"),
    ({"BILLING_PAYMENT_OPTIONS": "[1]"}, "must be a JSON object"),
    ({"BILLING_PAYMENT_OPTIONS": json.dumps({"site_id": "1", "secret_test": "k",
                                             "automatic_return_url": "http://x"})}, "set per payment by billing"),
    ({"BILLING_PAYMENT_MIN_CENTS": "1,5"}, "BILLING_PAYMENT_MIN_CENTS must be a whole number of cents"),
    ({"BILLING_PAYMENT_ACCEPT_TEST": "maybe"}, "BILLING_PAYMENT_ACCEPT_TEST must be on or off"),
])
def test_bad_configuration_stops_with_a_message_naming_it(env, words):
    with pytest.raises(ConfigError) as caught:
        provider_from_env(env)
    assert words in str(caught.value)


def test_the_public_development_key_is_refused_in_production():
    env = {"EF_ENV": "production", "BILLING_PAYMENT_BACKEND": "systempayv2",
           "BILLING_PAYMENT_OPTIONS": json.dumps({"site_id": DEV_SITE_ID, "secret_test": DEV_KEY_TEST})}
    with pytest.raises(ConfigError, match="development key"):
        provider_from_env(env)


def test_amount_bounds_from_the_environment():
    provider = provider_from_env({"BILLING_PAYMENT_MIN_CENTS": "150", "BILLING_PAYMENT_MAX_CENTS": "30000"})
    assert (provider.min_amount_cents, provider.max_amount_cents) == (150, 30000)
