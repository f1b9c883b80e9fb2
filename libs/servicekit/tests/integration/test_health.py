"""Readiness depends on the database only; broker and outbox trouble show in the details."""
from datetime import datetime, timedelta, timezone

import pytest
import sqlalchemy as sa

from servicekit.db import Database
from servicekit.health import Health
from servicekit.messaging.outbox import add_event
from servicekit.messaging.tables import outbox
from servicekit.settings import ServiceSettings
from sk_messaging_helpers import ThingCreated, unique_service

pytestmark = pytest.mark.integration

UNREACHABLE_BROKER = "amqp://guest:guest@127.0.0.1:1//"


def health_of(db: Database, amqp_url: str, **settings) -> Health:
    return Health(ServiceSettings(service="probe", database_url=db.url, amqp_url=amqp_url, **settings), db)


def write_old_event(db: Database, source: str, age: timedelta, **values) -> str:
    with db.transaction() as s:
        event_id = add_event(s, source, ThingCreated(thing_id="t", name="n")).id
        s.execute(outbox.update().where(outbox.c.event_id == event_id)
                  .values(created_at=datetime.now(timezone.utc) - age, **values))
    return event_id


def test_ready_while_the_broker_is_down_and_the_outbox_lags(database):
    write_old_event(database, unique_service(), timedelta(minutes=10))
    write_old_event(database, unique_service(), timedelta(hours=1), parked_at=datetime.now(timezone.utc))
    health = health_of(database, UNREACHABLE_BROKER, outbox_lag_alert_seconds=60)

    status, body = health.ready()
    assert status == 200 and body["status"] == "ok"
    assert body["checks"] == {"database": {"ok": True}}

    status, body = health.details()
    assert status == 503 and body["status"] == "degraded"
    checks = body["checks"]
    assert checks["database"] == {"ok": True}
    assert checks["broker"]["ok"] is False and "Error" in checks["broker"]["error"]
    outbox_check = checks["outbox"]
    assert outbox_check["ok"] is False and outbox_check["pending"] == 1 and outbox_check["parked"] == 1
    assert 590 < outbox_check["oldest_age_seconds"] < 700 and outbox_check["lag_alert_seconds"] == 60


def test_details_are_ok_when_everything_is(pg_database, module_vhost_url):
    write_old_event(pg_database, unique_service(), timedelta(seconds=1))
    status, body = health_of(pg_database, module_vhost_url).details()
    assert status == 200 and body["status"] == "ok"
    assert body["checks"]["broker"] == {"ok": True}
    assert body["checks"]["outbox"]["ok"] is True and body["checks"]["outbox"]["pending"] == 1


def test_parked_events_alone_make_details_degraded(pg_database, module_vhost_url):
    write_old_event(pg_database, unique_service(), timedelta(seconds=1), parked_at=datetime.now(timezone.utc))
    status, body = health_of(pg_database, module_vhost_url).details()
    assert status == 503 and body["checks"]["outbox"]["parked"] == 1 and body["checks"]["broker"]["ok"] is True


def test_not_ready_without_the_database_and_no_connection_details_leak(tmp_path):
    db = Database("postgresql+psycopg://nobody@127.0.0.1:1/secretdb")
    health = health_of(db, UNREACHABLE_BROKER)
    status, body = health.ready()
    assert status == 503 and body["status"] == "unavailable"
    assert body["checks"]["database"] == {"ok": False, "error": "OperationalError"}
    status, body = health.details()
    assert status == 503 and "127.0.0.1" in body["checks"]["database"]["error"]  # operators see why
    assert "outbox" not in body["checks"]


def test_a_service_extra_check_gates_readiness(database):
    settings = ServiceSettings(service="probe", database_url=database.url, amqp_url=UNREACHABLE_BROKER)
    health = Health(settings, database, {"templates": lambda: (False, "missing: welcome.html")})
    status, body = health.ready()
    assert status == 503 and body["checks"]["templates"] == {"ok": False, "error": "missing"}
    assert health.details()[1]["checks"]["templates"] == {"ok": False, "detail": "missing: welcome.html"}


def test_metrics_expose_parked_events_and_broker_reachability(database, module_vhost_url):
    from prometheus_client.parser import text_string_to_metric_families

    from servicekit import metrics
    from servicekit.health import BrokerProbe

    def scrape(service, broker):
        text = metrics.render(service, database, broker).decode()
        return {(s.name, s.labels.get("service")): s.value
                for family in text_string_to_metric_families(text) for s in family.samples}

    service = unique_service()
    write_old_event(database, service, timedelta(minutes=2))
    write_old_event(database, service, timedelta(minutes=5), parked_at=datetime.now(timezone.utc))
    down = scrape(service, BrokerProbe(UNREACHABLE_BROKER))
    assert down[("broker_reachable", service)] == 0
    assert down[("outbox_parked_events", service)] == 1 and down[("outbox_pending_events", service)] == 1
    assert 110 < down[("outbox_oldest_pending_age_seconds", service)] < 200  # the parked one does not count
    assert scrape(service, BrokerProbe(module_vhost_url))[("broker_reachable", service)] == 1
