"""Billing's worker: outbox relay, event consumers, scheduled jobs.

Consumers: identity's families, agents and children (projections); booking's bookings and
attendance (the monthly run's input) and validated, abandoned or paid-after-release carts (prepaid payments).
Jobs: `purge_idempotency_keys` (hourly: keys older than 24 h), `recheck_payments` (attempts left open: re-asked, carts past their hold failed, expired
after 3 hours) and `scheduled_runs` (a draft of last month's run on the commune's schedule day).
"""
from contracts import booking as booking_contract
from servicekit import idempotency
from servicekit.messaging.worker import Worker
from servicekit.projections import agents as agents_projection
from servicekit.projections import families as families_projection

from billing import payflow, projections, runs
from billing.db import get_db
from billing.models import agents, families, idempotency_keys
from billing.provider import get_provider
from billing.settings import get_settings


def create_worker(settings=None, db=None) -> Worker:
    settings = settings or get_settings()
    db = db or get_db()
    get_provider()  # a misconfigured payment provider stops the worker at start, with its message
    worker = Worker(settings, db)
    families_projection.install_handlers(worker, families)
    agents_projection.install_handlers(worker, agents)
    for source, event_type, name, handler in projections.HANDLERS:
        worker.handler(source, event_type, name=name)(handler)
    worker.handler("booking", booking_contract.CartValidated.EVENT_TYPE, name="carts_validated")(
        payflow.on_cart_validated)
    worker.handler("booking", booking_contract.CartAbandoned.EVENT_TYPE, name="carts_abandoned")(
        payflow.on_cart_abandoned)
    worker.handler("booking", booking_contract.CartPaidAfterRelease.EVENT_TYPE, name="carts_paid_after_release")(
        payflow.on_cart_paid_after_release)

    @worker.every(settings.billing_recheck_interval, name="recheck_payments")
    def recheck_payments(database):
        payflow.recheck_pending(database, get_provider())

    @worker.every(settings.billing_recheck_interval, name="announce_published")
    def announce_published(database):
        runs.announce_published(database)

    @worker.every(3600, name="purge_idempotency_keys")
    def purge_idempotency_keys(database):
        with database.transaction() as session:
            idempotency.purge(session, idempotency_keys)

    @worker.every(settings.billing_schedule_interval, name="scheduled_runs")
    def scheduled_runs(database):
        runs.scheduled_runs(database)

    return worker
