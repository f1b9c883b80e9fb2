"""Events published by notify on the `notify.events` exchange."""
from __future__ import annotations

from datetime import datetime

from contracts.envelope import EventPayload


class NotificationSent(EventPayload):
    """An e-mail left for the recipient's server. `source_event_id` is the event it answers,
    so the producer of that event can record that its message was sent."""

    EVENT_TYPE = "notification.sent.v1"
    notification_id: str
    template: str
    recipient: str
    source_event_id: str
    source_event_type: str
    sent_at: datetime


class NotificationFailed(EventPayload):
    """Sending failed for good (after retries); an operator or agent must act."""

    EVENT_TYPE = "notification.failed.v1"
    notification_id: str
    template: str
    recipient: str
    source_event_id: str
    source_event_type: str
    error: str
