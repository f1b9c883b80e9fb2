"""Booking's integration tests: one migrated PostgreSQL database per module, the real app
(servicekit's ASGI stack, connexion validation, service tokens) and the use cases.

Tests isolate themselves with a fresh commune (`world` fixture): its calendar, an agent the
agents projection knows, two families with a child each, a service and prestations whose
schedule starts today (so dates are bookable under the real clock).
"""
from __future__ import annotations

import datetime as dt
import json
import os
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field

import psycopg
import psycopg.sql
import pytest
import sqlalchemy as sa

from contracts.envelope import Envelope
from servicekit import tokens
from servicekit.db import Database
from servicekit.messaging.tables import outbox
from servicekit.testing import migrated_pg_database, service_app
from servicekit.types import utcnow

from booking.domain.deadlines import PARIS
from booking.models import agents, children, families, guardians

pytestmark = pytest.mark.integration

MIGRATIONS = os.path.join(os.path.dirname(__file__), "..", "..", "migrations")
SECRET = "booking-tests-service-token-secret-0123456789"
PARIS_TODAY = lambda: utcnow().astimezone(PARIS).date()  # noqa: E731


@pytest.fixture(scope="module")
def db_url():
    with migrated_pg_database("booking_it", MIGRATIONS) as url:
        yield url


@pytest.fixture(scope="module")
def db(db_url):
    database = Database(db_url, pool_size=20, max_overflow=10)
    yield database
    database.dispose()


@pytest.fixture(scope="module")
def app(db_url):
    with service_app("booking", {"BOOKING_DATABASE_URL": db_url, "SERVICE_TOKEN_SECRET": SECRET,
                                 "EF_ENV": "test"}) as application:
        yield application


@pytest.fixture(scope="module")
def client(app):
    with app.test_client() as test_client:
        yield test_client


@contextmanager
def sent_statements() -> Iterator[list[tuple[str, object, bool]]]:
    """Every statement this process sends to PostgreSQL meanwhile, as (text, parameters,
    executemany), whether through SQLAlchemy or psycopg directly (servicekit.pg): counted at
    psycopg's cursor. The relay's wake-up (NOTIFY, from a thread of its own) is left out."""
    seen: list[tuple[str, object, bool]] = []
    execute, executemany = psycopg.Cursor.execute, psycopg.Cursor.executemany

    def text(query) -> str:
        return query.decode() if isinstance(query, bytes) else str(query)

    def counted_execute(cursor, query, params=None, **kw):
        if not isinstance(query, psycopg.sql.Composable):  # the relay's wake-up (servicekit.messaging.wakeup)
            seen.append((text(query), params, False))
        return execute(cursor, query, params, **kw)

    def counted_executemany(cursor, query, params_seq, **kw):
        params_seq = list(params_seq)
        seen.append((text(query), params_seq, True))
        return executemany(cursor, query, params_seq, **kw)

    psycopg.Cursor.execute, psycopg.Cursor.executemany = counted_execute, counted_executemany
    try:
        yield seen
    finally:
        psycopg.Cursor.execute, psycopg.Cursor.executemany = execute, executemany


def auth(caller: tokens.Caller) -> dict:
    return {"Authorization": f"Bearer {tokens.mint(caller, 'booking', SECRET)}"}


def unique(prefix: str) -> str:
    return f"{prefix}-{uuid.uuid4().hex[:10]}"


def outbox_events(db: Database, event_type: str | None = None) -> list[dict]:
    with db.read() as s:
        rows = s.execute(sa.select(outbox.c.routing_key, outbox.c.body).order_by(outbox.c.seq)).all()
    return [json.loads(body)["data"] for key, body in rows if event_type is None or key == event_type]


def envelope(payload, source: str) -> Envelope:
    return Envelope(type=payload.EVENT_TYPE, source=source, data=payload.model_dump(mode="json"))


def weekdays_from(first: dt.date, count: int, skip: int = 2) -> list[dt.date]:
    """`count` Monday-to-Friday dates from `first` + `skip` days."""
    days, day = [], first + dt.timedelta(days=skip)
    while len(days) < count:
        if day.weekday() < 5:
            days.append(day)
        day += dt.timedelta(days=1)
    return days


def prestation_body(service_id: str, code: str, **changes) -> dict:
    """Monday to Friday in term time from today for 150 days (tests pick dates through the
    sessions list, holidays excluded), booking and cancelling until the day before at 12:00,
    invoiced at the end of the month, 10 places."""
    today = PARIS_TODAY()
    body = {
        "service_id": service_id, "code": code, "label": f"Prestation {code}",
        "schedule": {"first": today.isoformat(), "last": (today + dt.timedelta(days=150)).isoformat(),
                     "weekdays": [0, 1, 2, 3, 4]},
        "booking_deadline": {"kind": "calendar_days", "days": 1, "at": "12:00"},
        "cancellation_deadline": {"kind": "calendar_days", "days": 1, "at": "12:00"},
        "payment_mode": "end_of_month", "price_ref": "REPAS", "capacity": 10,
        "starts_at": "11:45", "ends_at": "13:30",
    }
    body.update(changes)
    return body


@dataclass
class Family:
    family_id: str
    child_id: str
    caller: tokens.Caller

    @property
    def headers(self) -> dict:
        return auth(self.caller)


@dataclass
class World:
    """A commune with an agent, a service and helpers to make families and prestations."""
    db: Database
    client: object
    commune: str
    agent: tokens.Caller
    service_id: str = ""
    families: list = field(default_factory=list)

    @property
    def agent_headers(self) -> dict:
        return auth(self.agent)

    def family(self, city: str | None = None) -> Family:
        family_id, child_id = str(uuid.uuid4()), str(uuid.uuid4())
        now = utcnow()
        with self.db.transaction() as s:
            s.execute(families.insert().values(family_id=family_id, commune=self.commune, family_name="Martin",
                                               status="active", updated_at=now))
            s.execute(children.insert().values(child_id=child_id, family_id=family_id, given_name="Léa",
                                               family_name=f"Martin-{family_id[:4]}", birth_date=dt.date(2017, 3, 2),
                                               changed_at=now))
            s.execute(guardians.insert().values(guardian_id=str(uuid.uuid4()), family_id=family_id,
                                                user_id=unique("sub"), city=city or self.commune, changed_at=now))
        family = Family(family_id, child_id, tokens.Caller(sub=unique("parent"), role="parent", family_id=family_id))
        self.families.append(family)
        return family

    def prestation(self, code: str | None = None, **changes) -> dict:
        body = prestation_body(self.service_id, code or unique("p").lower(), **changes)
        r = self.client.post("/internal/agent/prestations", json=body, headers=self.agent_headers)
        assert r.status_code == 201, r.text
        return r.json()

    def enrol(self, family: Family, first: dt.date | None = None, last: dt.date | None = None, **extra) -> dict:
        today = PARIS_TODAY()
        body = {"child_id": family.child_id, "service_id": self.service_id,
                "first": (first or today).isoformat(), "last": (last or today + dt.timedelta(days=150)).isoformat(),
                **extra}
        r = self.client.post("/internal/agent/enrolments", json=body, headers=self.agent_headers)
        assert r.status_code == 201, r.text
        return r.json()

    def open_dates(self, prestation_id: str, count: int) -> list[dt.date]:
        """The next `count` bookable opening dates (from the day after tomorrow)."""
        first = PARIS_TODAY() + dt.timedelta(days=2)
        r = self.client.get(f"/internal/agent/prestations/{prestation_id}/sessions",
                            params={"first": first.isoformat(), "last": (first + dt.timedelta(days=92)).isoformat()},
                            headers=self.agent_headers)
        assert r.status_code == 200, r.text
        days = [dt.date.fromisoformat(i["session_date"]) for i in r.json()["items"] if i["open"]]
        assert len(days) >= count
        return days[:count]


def make_world(db: Database, client, zone: str = "B") -> World:
    commune = unique("commune")
    agent = tokens.Caller(sub=unique("agent"), role="agent", commune=commune)
    with db.transaction() as s:
        s.execute(agents.insert().values(user_id=agent.sub, commune=commune, role="agent", active=True,
                                         changed_at=utcnow(), updated_at=utcnow()))
    world = World(db, client, commune, agent)
    r = client.put("/internal/agent/calendar", json={"zone": zone, "school_weekdays": [0, 1, 3, 4]},
                   headers=world.agent_headers)
    assert r.status_code == 200, r.text
    r = client.post("/internal/agent/services", json={"code": "cantine", "label": "Restauration scolaire"},
                    headers=world.agent_headers)
    assert r.status_code == 201, r.text
    world.service_id = r.json()["id"]
    return world


@pytest.fixture
def world(db, client) -> World:
    return make_world(db, client)
