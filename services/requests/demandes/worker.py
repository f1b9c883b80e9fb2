"""The requests service's worker: outbox relay, event consumers (projections of identity's
families, agents and children), the draft purge and the daily summary of pending requests."""
from servicekit.messaging.worker import Worker
from servicekit.projections import agents as agents_projection
from servicekit.projections import families as families_projection

from demandes import consumers, jobs
from demandes.db import get_db
from demandes.models import agents, families
from demandes.settings import get_settings

PURGE_EVERY_SECONDS = 6 * 3600
SUMMARY_CHECK_EVERY_SECONDS = 600


def create_worker(settings=None, db=None) -> Worker:
    settings = settings or get_settings()
    worker = Worker(settings, db or get_db())
    families_projection.install_handlers(worker, families)
    agents_projection.install_handlers(worker, agents)
    for source, event_type, name, handler in consumers.HANDLERS:
        worker.handler(source, event_type, name=name)(handler)
    worker.every(PURGE_EVERY_SECONDS, name="purge_drafts")(
        lambda db: jobs.purge_drafts(db, settings.requests_draft_retention_days))
    worker.every(3600, name="purge_idempotency_keys")(jobs.purge_idempotency_keys)
    worker.every(SUMMARY_CHECK_EVERY_SECONDS, name="pending_summary")(lambda db: jobs.publish_summaries(db, settings))
    return worker
