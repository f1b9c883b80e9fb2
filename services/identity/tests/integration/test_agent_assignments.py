"""Agent assignments are announced to the other services; `remove-agent` ends one (real process)."""
from __future__ import annotations

import json
import os
import subprocess
import sys

import pytest
import sqlalchemy as sa

from servicekit import migrations
from servicekit.db import Database
from servicekit.messaging.tables import outbox

from identity import agents, seed
from identity.models import AgentAssignment, AuditEntry, User
from identity.oidc.testing import MIGRATIONS, open_sso_session
from identity.signin.models import SsoSessionRecord

pytestmark = pytest.mark.integration


@pytest.fixture
def env(tmp_path):
    url = f"sqlite:///{tmp_path / 'identity.db'}"
    migrations.upgrade(MIGRATIONS, url)
    db = Database(url)
    yield {**os.environ, "IDENTITY_DATABASE_URL": url, "EF_ENV": "test", "EF_VAR_DIR": str(tmp_path),
           "LOG_FORMAT": "text", "LOG_LEVEL": "WARNING"}, db
    db.dispose()


def run(env, *args):
    return subprocess.run([sys.executable, "-m", "identity", *args], env=env, capture_output=True, text=True,
                          timeout=120)


def events(db, event_type):
    with db.read() as s:
        rows = s.execute(sa.select(outbox.c.body).where(outbox.c.routing_key == event_type)
                         .order_by(outbox.c.seq)).scalars().all()
    return [json.loads(body)["data"] for body in rows]


def make_agent(db, email="agent@mairie-ludres.fr", role="agent") -> User:
    with db.transaction() as s:
        seed.ensure_commune(s, "ludres", "Ludres")
        user, _ = seed.ensure_agent(s, email, "ludres", role, password="une girafe mange des myrtilles")
        s.expunge(user)
    return user


def test_adding_an_agent_or_changing_the_role_is_announced(env):
    _, db = env
    user = make_agent(db)
    make_agent(db, role="admin")
    announced = events(db, "agent.assigned.v1")
    assert [(e["user_id"], e["commune"], e["role"]) for e in announced] == [
        (user.sub, "ludres", "agent"), (user.sub, "ludres", "admin")]


def test_remove_agent_command_ends_the_assignment_the_sessions_and_announces_it(env):
    environ, db = env
    user = make_agent(db)
    sid, _cookie = open_sso_session(db, user.id, amr=("pwd", "otp", "mfa"))

    out = run(environ, "remove-agent", "--commune", "ludres", "--email", "Agent@Mairie-Ludres.fr")
    assert out.returncode == 0, out.stderr
    assert "no longer an agent of ludres" in out.stdout
    with db.read() as s:
        assert s.get(AgentAssignment, (user.id, "ludres")) is None
        assert s.get(SsoSessionRecord, sid).end_reason == "agent_removed"
        assert s.scalar(sa.select(AuditEntry.action).where(AuditEntry.action == "agent.removed")) == "agent.removed"
    [removed] = events(db, "agent.removed.v1")
    assert (removed["user_id"], removed["commune"]) == (user.sub, "ludres")

    again = run(environ, "remove-agent", "--commune", "ludres", "--email", "agent@mairie-ludres.fr")
    assert again.returncode == 1 and "is not an agent of ludres" in again.stderr


def test_publish_agents_announces_every_current_assignment(env):
    environ, db = env
    first, second = make_agent(db, "a@mairie-ludres.fr"), make_agent(db, "b@mairie-ludres.fr", "admin")
    with db.transaction() as s:
        assert agents.remove(s, s.get(User, first.id), "ludres")
    before = len(events(db, "agent.assigned.v1"))
    out = run(environ, "publish-agents")
    assert out.returncode == 0 and "1 assignment(s) announced" in out.stdout, out.stderr
    [again] = events(db, "agent.assigned.v1")[before:]
    assert (again["user_id"], again["role"]) == (second.sub, "admin")


def test_the_worker_announces_every_assignment_again_every_few_hours(env):
    from identity.settings import IdentitySettings
    from identity.worker import create_worker

    _, db = env
    user = make_agent(db)
    worker = create_worker(IdentitySettings(service="identity"), db)
    [job] = [j for j in worker.jobs if j.name == "announce_agents"]
    assert job.seconds == 6 * 3600
    before = len(events(db, "agent.assigned.v1"))
    job.fn(db)
    [again] = events(db, "agent.assigned.v1")[before:]
    assert (again["user_id"], again["commune"]) == (user.sub, "ludres")
