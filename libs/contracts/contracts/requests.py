"""Events published by the requests service (package `demandes`) on the `requests.events` exchange.

The status of every request is announced (notify e-mails the family); an accepted request whose
category has an effect also announces that effect for the service that owns the data (identity:
addresses, billing: quotient familial, booking: justified absences). Each effect event is
written once, in the transaction that accepts the request; consumers dedupe redeliveries with
their inbox.
"""
from __future__ import annotations

import datetime as dt
from typing import Literal

from pydantic import BaseModel, ConfigDict

from contracts.envelope import EventPayload

Status = Literal["brouillon", "envoyee", "en_cours", "acceptee", "refusee"]


class RequestStatusChanged(EventPayload):
    """A request moved (sent by the family, taken in hand, accepted or refused by an agent)."""

    EVENT_TYPE = "request.status_changed.v1"
    request_id: str
    reference: str                  # e.g. "D-2026-00042", shown to the family
    family_id: str
    commune: str
    category_code: str
    category_label: str
    requested_by: str               # the parent's public sub (who sent it)
    old_status: Status
    new_status: Status
    status_label: str               # French label of new_status ("Acceptée")
    message: str | None = None      # the agent's message (always present on a refusal)
    changed_by_role: Literal["parent", "agent", "admin", "system"]
    changed_at: dt.datetime
    link: str                       # the request's page in the family space


class AddressChangeAccepted(EventPayload):
    """A change of home address (`guardian_sub` set) or of a child's alternate address
    (`child_id` set) was accepted: identity applies it."""

    EVENT_TYPE = "address_change.accepted.v1"
    request_id: str
    family_id: str
    commune: str
    guardian_sub: str | None = None  # the parent who asked: their own home address
    child_id: str | None = None
    street: str
    postcode: str
    city: str
    accepted_at: dt.datetime


class QuotientUpdateAccepted(EventPayload):
    """The commune accepted the family's quotient familial (proof attached): billing prices
    with it from `valid_from` to `valid_until`."""

    EVENT_TYPE = "quotient_update.accepted.v1"
    request_id: str
    family_id: str
    commune: str
    quotient_familial: int
    valid_from: dt.date
    valid_until: dt.date
    accepted_at: dt.datetime


class AbsenceJustificationAccepted(EventPayload):
    """A child's absence between two days (inclusive) is justified: booking marks the
    attendance as a justified absence (not charged)."""

    EVENT_TYPE = "absence_justification.accepted.v1"
    request_id: str
    family_id: str
    commune: str
    child_id: str
    first_day: dt.date
    last_day: dt.date
    reason: str | None = None
    accepted_at: dt.datetime


class CategoryCount(BaseModel):
    model_config = ConfigDict(extra="ignore", frozen=True)
    code: str
    label: str
    count: int


class PendingRequestsSummarised(EventPayload):
    """Once a day per commune with requests waiting: notify e-mails the commune's agents."""

    EVENT_TYPE = "pending_requests.summarised.v1"
    commune: str
    day: dt.date
    pending: int                    # envoyee + en_cours
    sent: int                       # not yet taken in hand
    in_progress: int
    oldest_submitted_at: dt.datetime | None = None
    by_category: list[CategoryCount]
    link: str                       # the agents' queue
