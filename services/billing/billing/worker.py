"""Billing's worker: outbox relay, event consumers, scheduled jobs."""
from servicekit.messaging.worker import Worker
from servicekit.projections import agents as agents_projection
from servicekit.projections import families as families_projection

from billing.db import get_db
from billing.models import agents, families
from billing.settings import get_settings


def create_worker(settings=None, db=None) -> Worker:
    worker = Worker(settings or get_settings(), db or get_db())
    families_projection.install_handlers(worker, families)
    agents_projection.install_handlers(worker, agents)
    return worker
