"""Which e-mail answers which event, to whom, and its rendering (French, HTML + plain text).

Each kind of e-mail has three Jinja templates in notify/templates/: `<name>.subject.txt`,
`<name>.txt` (the plain-text part, written for reading, not stripped HTML) and `<name>.html`
(extends `base.html`, the one accessible, inline-styled layout; `base.txt` for the text).
A `Kind` says which event it answers and how to compose it: the recipients (from the event, or
from notify's directory of families and agents), the commune and family it is about, and the
extra facts its templates show (children's first names, the commune's name).
"""
from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import date, datetime, timezone
from zoneinfo import ZoneInfo

from babel.dates import format_date, format_datetime
from babel.numbers import format_currency
from jinja2 import Environment, PackageLoader, StrictUndefined, select_autoescape
from sqlalchemy.orm import Session

from contracts.billing import CreditIssued, InvoicePublished, PaymentFailed, PaymentSucceeded
from contracts.booking import BookingCancelled, BookingReminderDue, CartValidated, WaitingListConfirmed
from contracts.envelope import Envelope, EventPayload
from contracts.identity import (ActivationIssued, GuardianInvited, PasswordChanged, PasswordResetRequested,
                               TotpEnrolmentRequested)
from contracts.requests import PendingRequestsSummarised, RequestStatusChanged

from notify import directory
from notify.directory import Recipient
from notify.links import Links
from notify.preferences import OPTIONAL

PARIS = ZoneInfo("Europe/Paris")
log = logging.getLogger(__name__)


# --- French formats ------------------------------------------------------------------------------
def french_datetime(value: datetime) -> str:
    """'samedi 28 novembre 2026 à 10 h 15', 'mercredi 1er juillet…' in Paris time (naive values are taken as UTC)."""
    if value.tzinfo is None:
        value = value.replace(tzinfo=timezone.utc)
    day = "d'er'" if value.astimezone(PARIS).day == 1 else "d"  # "1er juillet", "2 juillet"
    return format_datetime(value, f"EEEE {day} MMMM y 'à' H 'h' mm", tzinfo=PARIS, locale="fr_FR")


def french_date(value: date) -> str:
    """'lundi 7 décembre 2026', 'mardi 1er septembre 2026' (a calendar day, no time zone)."""
    if isinstance(value, str):
        value = date.fromisoformat(value)
    return format_date(value, "EEEE d'er' MMMM y" if value.day == 1 else "EEEE d MMMM y", locale="fr_FR")


def euros(cents: int) -> str:
    """'12,50 €' (money is integer cents everywhere)."""
    return format_currency(cents / 100, "EUR", locale="fr_FR")


def and_list(items) -> str:
    """'Zoé', 'Zoé et Léo', 'Zoé, Léo et Lina'."""
    items = list(items)
    return " et ".join([", ".join(items[:-1]), items[-1]]) if len(items) > 1 else "".join(items)


_env = Environment(
    loader=PackageLoader("notify", "templates"),
    autoescape=select_autoescape(enabled_extensions=("html",), default_for_string=False, default=False),
    undefined=StrictUndefined,  # a missing variable is a bug, not an empty sentence
    trim_blocks=True,
    lstrip_blocks=True,
    keep_trailing_newline=True,
)
_env.filters["date_fr"] = french_datetime
_env.filters["day_fr"] = french_date
_env.filters["euros"] = euros
_env.filters["and_list"] = and_list


@dataclass(frozen=True)
class Rendered:
    subject: str
    text: str
    html: str


def render(template: str, **context) -> Rendered:
    subject = _env.get_template(f"{template}.subject.txt").render(**context)
    return Rendered(
        subject=" ".join(subject.split()),  # one line, whatever the template's layout
        text=_env.get_template(f"{template}.txt").render(**context),
        html=_env.get_template(f"{template}.html").render(**context),
    )


# --- kinds ---------------------------------------------------------------------------------------
class RecipientsUnknown(Exception):
    """No address is known yet for the family: the consumer retries later (identity's events
    may still be on their way), then dead-letters for an operator."""


@dataclass(frozen=True)
class Composition:
    recipients: list[Recipient]
    commune: str | None = None
    family_id: str | None = None
    context: dict = field(default_factory=dict)


@dataclass(frozen=True)
class Kind:
    template: str
    payload: type[EventPayload]
    source: str
    compose: Callable[[Session, EventPayload], Composition]


def _family(session: Session, family_id: str) -> list[Recipient]:
    found = directory.family_recipients(session, family_id)
    if not found:
        raise RecipientsUnknown(f"no address known for family {family_id}")
    return found


def _direct(commune=lambda e: None, family=lambda e: None, user=lambda e: None):
    """Identity's e-mails: the event names its recipient."""
    def compose(_session: Session, e) -> Composition:
        return Composition([Recipient(e.email, user(e), getattr(e, "given_name", None))], commune(e), family(e))
    return compose


LINE_STATUS = {
    "confirmed": "réservé", "held": "en attente de paiement", "waiting_listed": "sur liste d’attente",
    "cancelled": "annulé", "cancellation_requested": "annulation demandée à la mairie",
    "left_waiting_list": "retiré de la liste d’attente", "refused": "refusé",
}


def _cart_validated(session: Session, e: CartValidated) -> Composition:
    names = directory.child_names(session, [line.child_id for line in e.lines])
    lines = sorted(e.lines, key=lambda line: (names.get(line.child_id, ""), line.session_date, line.action))
    rows = [{"child": names.get(line.child_id, "Votre enfant"), "day": line.session_date, "action": line.action,
             "prestation": line.prestation_label,
             "status": LINE_STATUS.get(line.status, line.status), "held": line.status == "held"} for line in lines]
    # The cart is the validating parent's: write to them, or to the family if their address is unknown.
    parent = [r for r in directory.family_recipients(session, e.family_id) if r.user_id == e.parent_id]
    commune = e.lines[0].commune if e.lines else directory.family_commune(session, e.family_id)
    return Composition(parent or _family(session, e.family_id), commune, e.family_id, {"lines": rows})


def _about_a_child(session: Session, e) -> Composition:
    child = directory.child_names(session, [e.child_id]).get(e.child_id, "votre enfant")
    return Composition(_family(session, e.family_id), e.commune, e.family_id, {"child": child})


def _about_children(session: Session, e: BookingReminderDue) -> Composition:
    names = directory.child_names(session, e.child_ids)
    children = sorted(names.get(c, "votre enfant") for c in e.child_ids)
    return Composition(_family(session, e.family_id), e.commune, e.family_id, {"children": children})


def _about_a_family(session: Session, e) -> Composition:
    return Composition(_family(session, e.family_id), directory.family_commune(session, e.family_id), e.family_id)


def _billed(session: Session, e) -> Composition:
    """An invoice or a credit: the event names its commune."""
    return Composition(_family(session, e.family_id), e.commune, e.family_id)


def _request_status(session: Session, e: RequestStatusChanged) -> Composition:
    if e.new_status == "brouillon":  # a draft is the parent's own business
        return Composition([], e.commune, e.family_id)
    return Composition(_family(session, e.family_id), e.commune, e.family_id)


def _pending_summary(session: Session, e: PendingRequestsSummarised) -> Composition:
    found = directory.agent_recipients(session, e.commune)
    missing = directory.agents_without_address(session, e.commune)
    if missing:  # agent.assigned.v1 carries no address: known only once identity sent them one
        log.warning("daily summary for %s: no address known for agent(s) %s", e.commune, ", ".join(missing))
    return Composition(found, e.commune)


KINDS: dict[str, Kind] = {
    kind.payload.EVENT_TYPE: kind
    for kind in (
        Kind("activation", ActivationIssued, "identity", _direct(lambda e: e.commune, lambda e: e.family_id)),
        Kind("guardian_invitation", GuardianInvited, "identity", _direct(family=lambda e: e.family_id)),
        Kind("password_reset", PasswordResetRequested, "identity", _direct(user=lambda e: e.user_id)),
        Kind("password_changed", PasswordChanged, "identity", _direct(user=lambda e: e.user_id)),
        Kind("totp_enrolment", TotpEnrolmentRequested, "identity", _direct(user=lambda e: e.user_id)),
        Kind("cart_validated", CartValidated, "booking", _cart_validated),
        Kind("waiting_list_confirmed", WaitingListConfirmed, "booking", _about_a_child),
        Kind("cancellation_processed", BookingCancelled, "booking", _about_a_child),
        Kind("booking_reminder", BookingReminderDue, "booking", _about_children),
        Kind("payment_received", PaymentSucceeded, "billing", _about_a_family),
        Kind("payment_failed", PaymentFailed, "billing", _about_a_family),
        Kind("invoice_published", InvoicePublished, "billing", _billed),
        Kind("credit_issued", CreditIssued, "billing", _billed),
        Kind("request_status_changed", RequestStatusChanged, "requests", _request_status),
        Kind("pending_requests_summary", PendingRequestsSummarised, "requests", _pending_summary),
    )
}


def answers(event) -> bool:
    """Whether this event calls for an e-mail at all (before looking for recipients)."""
    if isinstance(event, BookingCancelled):
        # A parent's own cancellations are listed in their cart's e-mail; the town hall's
        # decisions (on a cancellation request, or at the desk) get their own.
        return event.by == "agent"
    return True


@dataclass(frozen=True)
class Draft:
    """A notification ready to be recorded."""

    template: str
    recipient: Recipient
    commune: str | None
    family_id: str | None
    content: Rendered


def render_kind(template: str, session: Session | None, event, recipient: Recipient, public_url: str,
                commune: str | None, context: dict) -> Rendered:
    """One kind's e-mail for one recipient, with the context every template can use."""
    return render(template, event=event, recipient=recipient, public_url=public_url.rstrip("/"),
                  links=Links(public_url), optional=template in OPTIONAL,
                  commune_name=directory.commune_name(session, commune) if session is not None else (commune or ""),
                  **context)


def drafts_for(session: Session, envelope: Envelope, public_url: str) -> list[Draft]:
    """The e-mails answering `envelope` (its type must be one of KINDS), one per recipient."""
    kind = KINDS[envelope.type]
    event = envelope.payload(kind.payload)
    if not answers(event):
        return []
    composition = kind.compose(session, event)
    return [Draft(kind.template, r, composition.commune, composition.family_id,
                  render_kind(kind.template, session, event, r, public_url, composition.commune, composition.context))
            for r in composition.recipients]
