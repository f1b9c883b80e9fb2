"""Notify's worker: consumers that queue e-mails, the sending job, the retention job, the outbox relay."""
from servicekit.messaging.worker import Worker

from notify import handlers, retention, sending
from notify.db import get_db
from notify.settings import NotifySettings, get_settings


def create_worker(settings: NotifySettings | None = None, db=None) -> Worker:
    settings = settings or get_settings()
    worker = Worker(settings, db or get_db())
    handlers.install_handlers(worker, settings)

    @worker.every(settings.notify_send_interval_seconds, name="send_emails")
    def send_emails(db):
        sending.send_due(db, settings)

    @worker.every(3600, name="retention")
    def purge_past_retention(db):
        with db.transaction() as session:
            retention.purge(session, settings)

    return worker
