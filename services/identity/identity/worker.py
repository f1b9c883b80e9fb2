"""identity's worker: the outbox relay (always), notify's receipts, back-channel logouts.

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
from servicekit.messaging.worker import Worker

from identity import households, retention, throttle
from identity.db import get_db
from identity.oidc import logout
from identity.settings import get_settings


def on_notification_sent(session: Session, envelope: Envelope) -> None:
    receipt = envelope.payload(NotificationSent)
    households.record_notification_sent(session, receipt.source_event_id, receipt.sent_at)


def on_notification_failed(session: Session, envelope: Envelope) -> None:
    failure = envelope.payload(NotificationFailed)
    households.record_notification_failed(session, failure.source_event_id, envelope.time, failure.error)


def purge_login_throttle(db) -> None:
    with db.transaction() as session:
        throttle.purge_stale(session)


def purge_past_retention(db, settings) -> None:
    with db.transaction() as session:
        retention.purge(session, settings)


def create_worker(settings=None, db=None, **options) -> Worker:
    """identity's worker; `options` go to servicekit's Worker (retry delays in tests)."""
    worker = Worker(settings or get_settings(), db or get_db(), **options)
    worker.handler("notify", NotificationSent.EVENT_TYPE, name="link_sent")(on_notification_sent)
    worker.handler("notify", NotificationFailed.EVENT_TYPE, name="link_send_failed")(on_notification_failed)
    # Identity's own event: the retried, dead-lettered delivery of back-channel logout tokens.
    worker.handler("identity", BackchannelLogoutRequested.EVENT_TYPE, name="backchannel_logout")(
        logout.deliver_requested)
    worker.every(3600, name="login_throttle_cleanup")(purge_login_throttle)
    worker.every(3600, name="retention")(functools.partial(purge_past_retention, settings=worker.settings))
    return worker
