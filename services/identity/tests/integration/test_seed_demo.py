"""seed-demo: demo communes, agents, family and OIDC client; idempotent; never in production."""
import sys
from pathlib import Path

import pyotp
import pytest
import sqlalchemy as sa

sys.path.insert(0, str(Path(__file__).parent))
from accounts_testkit import app, auth, client, db, db_url, parent_caller  # noqa: F401

from identity import households, passwords, seed
from identity.models import AgentAssignment, Base, Child, Commune

pytestmark = pytest.mark.integration

SECRET = "JBSWY3DPEHPK3PXPJBSWY3DP"


def snapshot(db):
    """Every row of identity's tables that the seed touches (minus the audit journal)."""
    with db.read() as s:
        return {table.name: sorted(map(repr, s.execute(sa.select(table)).all()))
                for table in Base.metadata.sorted_tables if table.name not in ("audit_journal", "outbox", "inbox")}


def test_seed_demo_is_complete_and_idempotent(db, client):
    with db.transaction() as s:
        seed.seed_demo(s, production=False, totp_secret=SECRET)
    first = snapshot(db)
    with db.transaction() as s:
        seed.seed_demo(s, production=False, totp_secret=SECRET)
    assert snapshot(db) == first

    with db.read() as s:
        communes = {c.slug: c.name for c in s.scalars(sa.select(Commune))}
        assert communes["heillecourt"] == "Heillecourt" and communes["ludres"] == "Ludres"
        for email, commune in seed.DEMO_AGENTS:
            agent = households.user_by_email(s, email)
            assert agent.is_active and agent.totp_enabled
            assert pyotp.TOTP(agent.totp_secret).now()
            assert passwords.verify_password(agent.password_hash, "Demo-Agent-2026")
            assert s.get(AgentAssignment, (agent.id, commune)).role == "agent"
        parent = households.user_by_email(s, "parent.demo@example.org")
        assert parent.is_active and passwords.verify_password(parent.password_hash, "Demo-Famille-2026")
        claims = households.family_claims(s, parent)
        assert claims["communes"] == [{"slug": "heillecourt", "name": "Heillecourt"}]
        children = s.scalars(sa.select(Child).where(Child.family_id == claims["family_id"])).all()
        assert sorted(f"{c.given_name} {c.family_name}" for c in children) == ["Hugo Martin", "Léa Martin"]
        assert all(c.school and c.class_name for c in children)
        parent_sub = parent.sub
        from identity.oidc.models import OAuthClient
        client_row = s.get(OAuthClient, "demo-portal")
        assert client_row.redirect_uris == ["http://127.0.0.1:8765/callback"] and client_row.first_party is False
        # The demo portal reads the family's invoices and requests through the gateway's API.
        assert client_row.scopes.split() == ["openid", "profile", "email", "invoices:read", "requests:read"]
    household = client.get("/internal/me/household", headers=auth(parent_caller(parent_sub))).json()
    assert [c["given_name"] for c in household["children"]] == ["Léa", "Hugo"]


def test_seed_demo_refuses_production(db):
    with pytest.raises(seed.SeedRefused):
        with db.transaction() as s:
            seed.seed_demo(s, production=True, totp_secret=SECRET)


def test_agents_by_operator_command_functions(db):
    with db.transaction() as s:
        seed.ensure_commune(s, "commune-op", "Commune de l'opérateur")
        s.flush()
        user, created = seed.ensure_agent(s, "Agent.Op@Example.org", "commune-op", "admin")
        assert created and user.email == "agent.op@example.org" and not user.is_active
        again, created_again = seed.ensure_agent(s, "agent.op@example.org", "commune-op", "agent")
        assert again.id == user.id and not created_again
        assert s.get(AgentAssignment, (user.id, "commune-op")).role == "agent"
    with pytest.raises(ValueError):
        with db.transaction() as s:
            seed.ensure_commune(s, "Pas Un Slug", "X")
    with pytest.raises(ValueError):
        with db.transaction() as s:
            seed.ensure_agent(s, "x@example.org", "no-such-commune")
