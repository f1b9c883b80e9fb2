"""The agents projection on real databases: handlers (idempotent, order-independent) and the
check the web layer runs on every agent call."""
import asyncio
from datetime import datetime, timedelta, timezone

import pytest
import sqlalchemy as sa

from contracts.envelope import Envelope
from contracts.identity import AgentAssigned, AgentRemoved
from servicekit.db import Database, declarative_base
from servicekit.problems import Problem
from servicekit.projections import agents as ap
from servicekit.tokens import Caller

pytestmark = pytest.mark.integration

T0 = datetime(2026, 9, 1, 8, 0, tzinfo=timezone.utc)
AGENT = Caller(sub="u-1", role="agent", commune="ludres")


def assigned(at=T0, role="agent", user="u-1", commune="ludres") -> Envelope:
    data = AgentAssigned(user_id=user, commune=commune, role=role, assigned_at=at)
    return Envelope(type=data.EVENT_TYPE, source="identity", data=data.model_dump(mode="json"))


def removed(at=T0, user="u-1", commune="ludres") -> Envelope:
    data = AgentRemoved(user_id=user, commune=commune, removed_at=at)
    return Envelope(type=data.EVENT_TYPE, source="identity", data=data.model_dump(mode="json"))


@pytest.fixture(params=["postgresql", "sqlite"])
def projection(request, tmp_path):
    url = request.getfixturevalue("pg_url") if request.param == "postgresql" else f"sqlite:///{tmp_path / 'a.db'}"
    base = declarative_base()
    table = ap.define_table(base.metadata)
    db = Database(url)
    base.metadata.create_all(db.engine)
    yield db, table
    db.dispose()


def apply(db, table, *envelopes):
    handlers = {AgentAssigned.EVENT_TYPE: ap.on_agent_assigned(table), AgentRemoved.EVENT_TYPE: ap.on_agent_removed(table)}
    for envelope in envelopes:
        with db.transaction() as session:
            handlers[envelope.type](session, envelope)


def current(db, table, caller=AGENT) -> bool:
    with db.read() as session:
        return ap.is_current_agent(session, table, caller)


def test_assigned_then_removed(projection):
    db, table = projection
    assert not current(db, table)  # unknown agent: not current
    apply(db, table, assigned())
    assert current(db, table)
    apply(db, table, removed(T0 + timedelta(minutes=5)))
    assert not current(db, table)
    apply(db, table, assigned(T0 + timedelta(hours=1)))  # assigned again later
    assert current(db, table)


def test_an_older_fact_arriving_late_changes_nothing(projection):
    db, table = projection
    apply(db, table, removed(T0 + timedelta(minutes=5)), assigned(T0))
    assert not current(db, table)
    apply(db, table, assigned(T0 + timedelta(minutes=10)), removed(T0 + timedelta(minutes=5)), assigned(T0))
    assert current(db, table)


def test_duplicates_and_equal_times(projection):
    db, table = projection
    apply(db, table, assigned(), assigned(), removed(), assigned())
    assert not current(db, table)  # at the same instant, the removal wins


def test_commune_and_role_must_match(projection):
    db, table = projection
    apply(db, table, assigned(role="agent"))
    assert not current(db, table, Caller(sub="u-1", role="agent", commune="heillecourt"))
    assert not current(db, table, Caller(sub="u-1", role="admin", commune="ludres"))  # demoted / never admin
    apply(db, table, assigned(T0 + timedelta(minutes=1), role="admin"))
    assert current(db, table, Caller(sub="u-1", role="admin", commune="ludres"))
    assert current(db, table, AGENT)  # an admin may act as agent


def test_only_agent_claims_are_refused(projection):
    db, table = projection
    with db.read() as session:
        assert ap.agent_access_refused(session, table, AGENT)
        for caller in (Caller(sub="p", role="parent", family_id="f"), Caller(sub="o", role="operator"),
                       Caller(sub="gateway", role="anonymous")):
            assert not ap.agent_access_refused(session, table, caller)
            assert not ap.is_current_agent(session, table, caller)


def test_the_web_check_refuses_a_removed_agent_and_lets_others_through(projection):
    """AgentCheckMiddleware, as connexion calls it (the caller in the scope), on both databases:
    its read runs in a worker thread (Database.run_read), no asyncio driver involved."""
    db, table = projection
    apply(db, table, assigned(), removed(T0 + timedelta(minutes=1), user="u-1", commune="ludres"),
          assigned(user="u-3"))
    reached = []

    async def app(scope, receive, send):
        reached.append(scope["who"])

    check = ap.AgentCheckMiddleware(app, table, db)

    async def call(caller, who):
        scope = {"type": "http", "who": who, "extensions": {"connexion_context": {"token_info": {"caller": caller}}}}
        try:
            await check(scope, None, None)
        except Problem as problem:
            return problem.status
        return 200

    async def calls():
        return [await call(AGENT, "removed agent"), await call(Caller(sub="u-3", role="agent", commune="ludres"),
                                                                "current agent"),
                await call(Caller(sub="p", role="parent", family_id="f"), "parent")]

    assert asyncio.run(calls()) == [403, 200, 200]
    assert reached == ["current agent", "parent"]
