"""The Systempay / PayZen form protocol: what the merchant posts, what the bank sends back.

Field names, formats and result codes follow Systempay's "hosted payment" (formulaire) guide,
the subset that eopayment's `systempayv2` backend uses: a single immediate payment in euros.
Every refusal of a form carries a French message for the person in front of the page.
"""
from __future__ import annotations

import re
import secrets
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime, timedelta, timezone

from fakebank.signature import sign, verify

# The outcome of a payment, as `vads_trans_status` says it.
AUTHORISED, REFUSED, ABANDONED, CANCELLED = "AUTHORISED", "REFUSED", "ABANDONED", "CANCELLED"

# vads_trans_status -> (vads_result, vads_auth_result)
RESULT_CODES = {
    AUTHORISED: ("00", "00"),  # payment done
    REFUSED: ("05", "05"),  # refused; "05" = "ne pas honorer" from the card issuer
    ABANDONED: ("17", ""),  # the buyer gave up on the payment page
    CANCELLED: ("17", ""),  # cancelled (by the buyer, the merchant or the bank)
}

# Fields the merchant sends that the bank sends back unchanged (URLs and the signature are not).
_ECHOED = re.compile(
    r"^vads_(action_mode|amount|capture_delay|contrib|ctx_mode|currency|cust_[a-z_]+|language|order_id|"
    r"order_info[23]?|page_action|payment_cards|payment_config|return_mode|site_id|theme_config|trans_date|"
    r"trans_id|validation_mode|version|ext_info_[A-Za-z0-9_]+)$"
)
_REQUIRED = ("vads_action_mode", "vads_amount", "vads_ctx_mode", "vads_currency", "vads_page_action",
             "vads_payment_config", "vads_site_id", "vads_trans_date", "vads_trans_id", "vads_version")
_URL_FIELDS = ("vads_url_return", "vads_url_success", "vads_url_refused", "vads_url_cancel", "vads_url_error",
               "vads_url_check")
_TRANS_DATE_TOLERANCE = timedelta(hours=24)


class FormError(Exception):
    """A payment form the bank refuses; `message` is shown to the buyer (French)."""

    def __init__(self, message: str):
        super().__init__(message)
        self.message = message


@dataclass(frozen=True)
class Shop:
    site_id: str
    name: str
    key_test: str
    key_production: str | None = None

    def key(self, ctx_mode: str) -> str | None:
        return self.key_test if ctx_mode == "TEST" else self.key_production


@dataclass(frozen=True)
class PaymentForm:
    """A payment form that passed every check, signature included."""

    fields: dict[str, str]  # every vads_* field as received
    shop: Shop

    @property
    def amount_cents(self) -> int:
        return int(self.fields["vads_amount"])

    @property
    def ctx_mode(self) -> str:
        return self.fields["vads_ctx_mode"]

    @property
    def key(self) -> str:
        return self.shop.key(self.ctx_mode) or ""

    @property
    def identity(self) -> tuple[str, str, str, str]:
        """(site, mode, day, trans id): Systempay wants vads_trans_id unique per shop and day."""
        return (self.fields["vads_site_id"], self.ctx_mode, self.fields["vads_trans_date"][:8],
                self.fields["vads_trans_id"])

    @property
    def notification_url(self) -> str:
        return self.fields.get("vads_url_check", "")

    @property
    def return_mode(self) -> str:
        return self.fields.get("vads_return_mode", "") or "NONE"

    def return_url(self, status: str) -> str:
        specific = {AUTHORISED: "vads_url_success", REFUSED: "vads_url_refused",
                    ABANDONED: "vads_url_cancel", CANCELLED: "vads_url_cancel"}[status]
        return self.fields.get(specific) or self.fields.get("vads_url_return", "")


def parse_form(form: Mapping[str, list[str]], shops: Mapping[str, Shop], now: datetime | None = None) -> PaymentForm:
    """Check a posted payment form the way the bank does; raise FormError with a French message."""
    repeated = sorted(name for name, values in form.items() if len(values) > 1)
    if repeated:
        raise FormError(f"Formulaire invalide : le champ {repeated[0]} est présent plusieurs fois.")
    fields = {name: values[0] for name, values in form.items()}
    signature = fields.pop("signature", "")
    vads = {name: value for name, value in fields.items() if name.startswith("vads_")}
    missing = [name for name in _REQUIRED if not vads.get(name)]
    if missing:
        raise FormError(f"Formulaire invalide : le champ obligatoire {missing[0]} est absent.")
    if not signature:
        raise FormError("Formulaire invalide : la signature (champ signature) est absente.")
    shop = shops.get(vads["vads_site_id"])
    if shop is None:
        raise FormError(f"Boutique inconnue : aucune boutique n'a l'identifiant {vads['vads_site_id']}.")
    mode = vads["vads_ctx_mode"]
    if mode not in ("TEST", "PRODUCTION"):
        raise FormError("Formulaire invalide : vads_ctx_mode doit valoir TEST ou PRODUCTION.")
    key = shop.key(mode)
    if not key:
        raise FormError(f"La boutique {shop.site_id} n'a pas de clé pour le mode {mode}.")
    if not verify(vads, key, signature):
        raise FormError(
            "Signature invalide : le formulaire de paiement a été modifié ou n'a pas été signé avec la clé "
            f"de la boutique (mode {mode}, HMAC-SHA-256). Le paiement est refusé."
        )
    _check_values(vads, now or datetime.now(timezone.utc))
    return PaymentForm(fields=vads, shop=shop)


def _check_values(vads: dict[str, str], now: datetime) -> None:
    expected = {"vads_version": "V2", "vads_page_action": "PAYMENT", "vads_action_mode": "INTERACTIVE",
                "vads_payment_config": "SINGLE"}
    for name, value in expected.items():
        if vads[name] != value:
            raise FormError(f"Cette banque simulée n'accepte que {name}={value} (reçu : {vads[name]}).")
    amount = vads["vads_amount"]
    if not re.fullmatch(r"[0-9]{1,12}", amount) or int(amount) <= 0:
        raise FormError("Montant invalide : vads_amount doit être un nombre entier de centimes supérieur à zéro.")
    if vads["vads_currency"] != "978":
        raise FormError("Devise non acceptée : seul l'euro (vads_currency=978) est accepté.")
    if not re.fullmatch(r"[A-Za-z0-9]{6}", vads["vads_trans_id"]):
        raise FormError("Identifiant de transaction invalide : vads_trans_id doit compter 6 lettres ou chiffres.")
    try:
        trans_date = datetime.strptime(vads["vads_trans_date"], "%Y%m%d%H%M%S").replace(tzinfo=timezone.utc)
    except ValueError:
        raise FormError("Date de transaction invalide : vads_trans_date doit être au format AAAAMMJJHHMMSS (UTC).")
    if abs(now - trans_date) > _TRANS_DATE_TOLERANCE:
        raise FormError("Date de transaction hors délai : vads_trans_date doit être la date et l'heure UTC actuelles.")
    for name in _URL_FIELDS:
        url = vads.get(name)
        if url and not re.match(r"^https?://[^\s/]+", url):
            raise FormError(f"Adresse invalide : {name} doit être une adresse http(s) complète.")
    if vads.get("vads_return_mode", "") not in ("", "NONE", "GET", "POST"):
        raise FormError("Formulaire invalide : vads_return_mode doit valoir NONE, GET ou POST.")


@dataclass
class Outcome:
    """What the bank decided for one transaction, fixed once for all its messages."""

    status: str
    trans_uuid: str = field(default_factory=lambda: secrets.token_hex(16))
    auth_number: str = ""
    certificate: str = ""
    ipn_hash: str = field(default_factory=lambda: secrets.token_hex(32))
    decided_at: datetime = field(default_factory=lambda: datetime.now(timezone.utc))

    @classmethod
    def decide(cls, status: str) -> "Outcome":
        paid = status == AUTHORISED
        return cls(status=status, auth_number=f"{secrets.randbelow(10**6):06d}" if paid else "",
                   certificate=secrets.token_hex(20) if paid else "")


def response_fields(form: PaymentForm, outcome: Outcome, *, ipn_source: str | None = None) -> dict[str, str]:
    """The signed fields the bank sends back: to the notification URL (`ipn_source` set: PAY, BO,
    RETRY) or to the browser's return URL (`ipn_source` None)."""
    result, auth_result = RESULT_CODES[outcome.status]
    paid = outcome.status == AUTHORISED
    fields = {name: value for name, value in form.fields.items() if _ECHOED.match(name)}
    fields.update(
        vads_auth_mode="FULL",
        vads_auth_number=outcome.auth_number,
        vads_auth_result=auth_result,
        vads_result=result,
        vads_extra_result="",
        vads_trans_status=outcome.status,
        vads_trans_uuid=outcome.trans_uuid,
        vads_operation_type="DEBIT",
        vads_sequence_number="1",
        vads_payment_src="EC",
        vads_payment_certificate=outcome.certificate,
        vads_effective_amount=form.fields["vads_amount"] if paid else "",
        vads_effective_currency=form.fields["vads_currency"] if paid else "",
        vads_effective_creation_date=outcome.decided_at.strftime("%Y%m%d%H%M%S"),
        vads_card_brand="CB" if outcome.status in (AUTHORISED, REFUSED) else "",
        vads_card_number="497010XXXXXX0003" if outcome.status in (AUTHORISED, REFUSED) else "",
    )
    if ipn_source is not None:
        fields.update(vads_url_check_src=ipn_source, vads_hash=outcome.ipn_hash)
    fields["signature"] = sign(fields, form.key)
    return fields
