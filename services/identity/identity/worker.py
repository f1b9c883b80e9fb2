"""identity's worker: the outbox relay (always), notify's receipts, back-channel logouts, and
the address changes the requests service accepted (`address_change.accepted.v1`).

When notify reports that the e-mail answering one of our events left (activation link,
invitation), the link records `sent_at` so the agent (or the inviting parent) sees it; when
notify gives up sending it, the link records the failure so the agent can check the address
and re-send. The
servicekit inbox makes the handler run once per event, whatever the redeliveries.
"""
from __future__ import annotations

import functools

from sqlalchemy.orm import Session

from contracts.envelope import Envelope
from contracts.identity import BackchannelLogoutRequested
from contracts.notify import NotificationFailed, NotificationSent
from contracts.requests import AddressChangeAccepted
from servicekit.messaging.worker import Worker

from identity import agents, households, retention, throttle
from identity.db import get_db
from identity.errors import NotFound
from identity.oidc import logout
from identity.settings import get_settings


def on_notification_sent(session: Session, envelope: Envelope) -> None:
    receipt = envelope.payload(NotificationSent)
    households.record_notification_sent(session, receipt.source_event_id, receipt.sent_at)


def on_notification_failed(session: Session, envelope: Envelope) -> None:
    failure = envelope.payload(NotificationFailed)
    households.record_notification_failed(session, failure.source_event_id, envelope.time, failure.error)


def on_address_change_accepted(session: Session, envelope: Envelope) -> None:
    """The commune accepted a change of address request: the requesting parent's home address,
    or a child's alternate address, changes (once: the inbox skips a redelivered event)."""
    change = envelope.payload(AddressChangeAccepted)
    guardian_id = None
    if change.child_id is None:
        user = households.user_by_sub(session, change.guardian_sub or "")
        guardian = households.guardian_of(session, user) if user is not None else None
        if guardian is None or guardian.family_id != change.family_id:
            raise NotFound("Ce responsable n'existe pas dans cette famille.")  # retried, then dead-lettered
        guardian_id = guardian.id
    households.apply_address_change(session, change.family_id, guardian_id=guardian_id, child_id=change.child_id,
                                    address={"street": change.street, "postcode": change.postcode,
                                             "city": change.city})


def purge_login_throttle(db) -> None:
    with db.transaction() as session:
        throttle.purge_stale(session)


# Every current agent assignment is announced again this often (and at start): the other
# services' projections heal by themselves if they missed events (deployed later, reset).
AGENTS_ANNOUNCE_SECONDS = 6 * 3600
BACKCHANNEL_CONSUMER_THREADS = 2


def announce_agents(db) -> None:
    with db.transaction() as session:
        agents.publish_all(session)


def purge_past_retention(db, settings) -> None:
    with db.transaction() as session:
        retention.purge(session, settings)


def create_worker(settings=None, db=None, **options) -> Worker:
    """identity's worker; `options` go to servicekit's Worker (retry delays in tests)."""
    db = db or get_db()
    if not db.is_sqlite:
        # A back-channel logout POST waits on a relying party (up to OIDC_BACKCHANNEL_TIMEOUT):
        # a second consumer thread keeps identity's other events flowing meanwhile (ADR 0013).
        options.setdefault("consumer_threads", BACKCHANNEL_CONSUMER_THREADS)
    worker = Worker(settings or get_settings(), db, **options)
    worker.handler("notify", NotificationSent.EVENT_TYPE, name="link_sent")(on_notification_sent)
    worker.handler("notify", NotificationFailed.EVENT_TYPE, name="link_send_failed")(on_notification_failed)
    # Identity's own event: the retried, dead-lettered delivery of back-channel logout tokens.
    worker.handler("identity", BackchannelLogoutRequested.EVENT_TYPE, name="backchannel_logout")(
        logout.deliver_requested)
    worker.handler("requests", AddressChangeAccepted.EVENT_TYPE, name="address_changes")(on_address_change_accepted)
    worker.every(3600, name="login_throttle_cleanup")(purge_login_throttle)
    worker.every(3600, name="retention")(functools.partial(purge_past_retention, settings=worker.settings))
    worker.every(AGENTS_ANNOUNCE_SECONDS, name="announce_agents")(announce_agents)
    return worker
