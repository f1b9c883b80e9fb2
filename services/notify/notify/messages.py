"""Which e-mail answers which event, and its rendering (French, HTML + plain text).

Each kind of e-mail has three Jinja templates in notify/templates/: `<name>.subject.txt`,
`<name>.txt` (the plain-text part, written for reading, not stripped HTML) and `<name>.html`
(extends `base.html`, the one accessible, inline-styled layout).
"""
from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timezone
from zoneinfo import ZoneInfo

from babel.dates import format_datetime
from jinja2 import Environment, PackageLoader, StrictUndefined, select_autoescape

from contracts.envelope import Envelope, EventPayload
from contracts.identity import (ActivationIssued, GuardianInvited, PasswordChanged, PasswordResetRequested,
                               TotpEnrolmentRequested)

PARIS = ZoneInfo("Europe/Paris")


def french_datetime(value: datetime) -> str:
    """'samedi 28 novembre 2026 à 10 h 15', 'mercredi 1er juillet…' in Paris time (naive values are taken as UTC)."""
    if value.tzinfo is None:
        value = value.replace(tzinfo=timezone.utc)
    day = "d'er'" if value.astimezone(PARIS).day == 1 else "d"  # "1er juillet", "2 juillet"
    return format_datetime(value, f"EEEE {day} MMMM y 'à' H 'h' mm", tzinfo=PARIS, locale="fr_FR")


_env = Environment(
    loader=PackageLoader("notify", "templates"),
    autoescape=select_autoescape(enabled_extensions=("html",), default_for_string=False, default=False),
    undefined=StrictUndefined,  # a missing variable is a bug, not an empty sentence
    trim_blocks=True,
    lstrip_blocks=True,
    keep_trailing_newline=True,
)
_env.filters["date_fr"] = french_datetime


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


@dataclass(frozen=True)
class Kind:
    """One kind of e-mail: the event it answers and how to read its recipient and commune."""

    template: str
    payload: type[EventPayload]
    recipient: Callable[[EventPayload], str]
    commune: Callable[[EventPayload], str | None] = lambda _event: None


KINDS: dict[str, Kind] = {
    kind.payload.EVENT_TYPE: kind
    for kind in (
        Kind("activation", ActivationIssued, lambda e: e.email, lambda e: e.commune),
        Kind("guardian_invitation", GuardianInvited, lambda e: e.email),
        Kind("password_reset", PasswordResetRequested, lambda e: e.email),
        Kind("password_changed", PasswordChanged, lambda e: e.email),
        Kind("totp_enrolment", TotpEnrolmentRequested, lambda e: e.email),
    )
}


@dataclass(frozen=True)
class Draft:
    """A notification ready to be recorded."""

    template: str
    recipient: str
    commune: str | None
    content: Rendered


def draft_for(envelope: Envelope, public_url: str) -> Draft:
    """The e-mail answering `envelope` (its type must be one of KINDS)."""
    kind = KINDS[envelope.type]
    event = envelope.payload(kind.payload)
    content = render(kind.template, event=event, public_url=public_url.rstrip("/"))
    return Draft(kind.template, kind.recipient(event), kind.commune(event), content)
