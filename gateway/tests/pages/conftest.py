"""Page tests of the account pages against a REAL identity service process.

- `identity`: `python -m identity migrate` then `python -m identity web` (gunicorn) on a free
  loopback port, with its own temporary SQLite database and a service-token secret shared with
  the gateway; stopped at the end of the session.
- `gateway`: the gateway app (its own migrated database) calling that identity; `client` is a
  Flask test client per test.
- Seeding goes through identity's own tables and functions (communes, agents), and the
  activation/invitation links are read from identity's outbox, as notify would receive them.

Every test makes its own communes and e-mail addresses (unique names), so tests never share state.
"""
from __future__ import annotations

import json
import os
import re
import secrets
import signal
import socket
import subprocess
import sys
import uuid
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone
from pathlib import Path

import pytest
import requests
import sqlalchemy as sa

TESTS_DIR = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(TESTS_DIR))
sys.path.insert(0, str(Path(__file__).resolve().parent))

from helpers import make_settings, migrate  # noqa: E402

from servicekit.db import Database  # noqa: E402
from servicekit.testing import wait_until  # noqa: E402
from servicekit.messaging.tables import outbox  # noqa: E402

SECRET = "pages-test-service-token-secret-" + secrets.token_hex(8)


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@dataclass
class Identity:
    url: str
    db: Database

    # --- seeding through identity's own tables ---------------------------------------------
    def commune(self, name: str) -> dict:
        from identity.models import Commune

        slug = f"{re.sub(r'[^a-z]+', '-', name.lower()).strip('-')}-{uuid.uuid4().hex[:6]}"
        with self.db.transaction() as s:
            s.add(Commune(slug=slug, name=name))
        return {"slug": slug, "name": name}

    def agent(self, commune: dict, role: str = "agent") -> dict:
        """An agent account of `commune`; returns the gateway session user."""
        from identity.models import AgentAssignment, User

        email = f"agent-{uuid.uuid4().hex[:8]}@mairie.example.org"
        with self.db.transaction() as s:
            user = User(email=email, given_name="Alex", family_name="Agent", is_active=True)
            s.add(user)
            s.flush()
            s.add(AgentAssignment(user_id=user.id, commune_slug=commune["slug"], role=role))
            sub = user.sub
        return {"sub": sub, "email": email, "name": "Alex Agent", "family_id": None, "communes": [],
                "agent_of": [{**commune, "role": role}], "platform_role": "parent"}

    # --- what notify would receive -----------------------------------------------------------
    def events(self, event_type: str) -> list[dict]:
        with self.db.read() as s:
            rows = s.execute(sa.select(outbox.c.body).where(outbox.c.routing_key == event_type)
                             .order_by(outbox.c.seq)).scalars().all()
        return [json.loads(body) for body in rows]

    def link_for(self, email: str, event_type: str = "activation.issued.v1") -> str:
        """The path of the latest link e-mailed to `email` (activation or invitation)."""
        def latest():
            found = [e for e in self.events(event_type) if e["data"]["email"] == email.lower()]
            return found[-1] if found else None

        event = wait_until(latest, 5, message=f"{event_type} for {email}")
        link = event["data"]["link"]
        return "/" + link.split("/", 3)[3]

    def mark_sent(self, email: str) -> None:
        """notify reports the activation e-mail left (identity's own handler does the update)."""
        from identity import households

        event = [e for e in self.events("activation.issued.v1") if e["data"]["email"] == email.lower()][-1]
        with self.db.transaction() as s:
            households.record_notification_sent(s, event["id"], datetime.now(timezone.utc))

    def mark_failed(self, email: str) -> None:
        """notify reports it gave up sending the activation e-mail."""
        from identity import households

        event = [e for e in self.events("activation.issued.v1") if e["data"]["email"] == email.lower()][-1]
        with self.db.transaction() as s:
            households.record_notification_failed(s, event["id"], datetime.now(timezone.utc), "550 mailbox unknown")

    def expire_links(self, email: str) -> None:
        from identity.models import Activation

        with self.db.transaction() as s:
            s.execute(sa.update(Activation).where(Activation.email == email.lower())
                      .values(expires_at=datetime.now(timezone.utc) - timedelta(minutes=1)))

    def user(self, email: str) -> dict:
        """The gateway session user of an account (as sign-in would build it from the claims)."""
        from identity import households
        from identity.models import User

        with self.db.read() as s:
            user = s.scalars(sa.select(User).where(User.email == email.lower())).one()
            claims = households.family_claims(s, user)
            return {"sub": user.sub, "email": user.email, "name": user.display_name,
                    "family_id": claims.get("family_id"), "communes": claims.get("communes") or [],
                    "agent_of": [], "platform_role": user.platform_role}


@pytest.fixture(scope="session")
def identity(tmp_path_factory):
    var = tmp_path_factory.mktemp("identity")
    port = free_port()
    db_url = f"sqlite:///{var / 'identity.db'}"
    env = dict(os.environ, EF_ENV="test", EF_VAR_DIR=str(var), DATABASE_URL=db_url, IDENTITY_DATABASE_URL=db_url,
               SERVICE_TOKEN_SECRET=SECRET, BIND=f"127.0.0.1:{port}", WEB_CONCURRENCY="1", LOG_FORMAT="text",
               PUBLIC_URL="http://gateway.test")
    subprocess.run([sys.executable, "-m", "identity", "migrate"], env=env, check=True, capture_output=True)
    log = open(var / "identity.log", "w")
    proc = subprocess.Popen([sys.executable, "-m", "identity", "web"], env=env, stdout=log, stderr=subprocess.STDOUT,
                            start_new_session=True)
    url = f"http://127.0.0.1:{port}"
    try:
        def live():
            if proc.poll() is not None:
                raise RuntimeError(f"identity exited with {proc.returncode}")
            return requests.get(url + "/health/live", timeout=1).status_code == 200

        try:
            wait_until(live, 30, 0.2, "identity to answer", ignore=(requests.RequestException,))
        except AssertionError:
            print((var / "identity.log").read_text()[-5000:])
            raise
        db = Database(db_url)
        yield Identity(url, db)
        db.dispose()
    finally:
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGTERM)
            try:
                proc.wait(20)
            except subprocess.TimeoutExpired:
                os.killpg(proc.pid, signal.SIGKILL)
        log.close()


@pytest.fixture(scope="module")
def gateway(identity, tmp_path_factory):
    """The gateway app calling the real identity. The service clients read the process-wide
    settings, so the environment is set for this module only and restored after it."""
    from gateway.app import create_app
    from gateway.settings import get_settings

    var = tmp_path_factory.mktemp("gateway")
    env = {"IDENTITY_URL": identity.url, "SERVICE_TOKEN_SECRET": SECRET, "EF_ENV": "test",
           "EF_VAR_DIR": str(var), "DATABASE_URL": f"sqlite:///{var / 'gateway.db'}", "LOG_FORMAT": "text"}
    saved = {k: os.environ.get(k) for k in env}
    os.environ.update(env)
    get_settings.cache_clear()
    settings = make_settings(var, **env)
    migrate(settings)
    app = create_app(settings).app
    yield app
    for k, v in saved.items():
        if v is None:
            os.environ.pop(k, None)
        else:
            os.environ[k] = v
    get_settings.cache_clear()


@pytest.fixture
def client(gateway):
    with gateway.test_client() as c:
        yield c


@pytest.fixture
def commune(identity):
    return identity.commune("Heillecourt")


@pytest.fixture
def agent(identity, commune):
    return identity.agent(commune)
