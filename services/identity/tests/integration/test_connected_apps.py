"""A parent sees the portals they agreed to share data with, and withdraws a consent: the
portal's tokens for them are revoked at once. First-party clients (the platform itself) are
not listed."""
import sys
from datetime import datetime, timedelta, timezone
from pathlib import Path

import pytest
import sqlalchemy as sa

sys.path.insert(0, str(Path(__file__).parent))
from accounts_testkit import (activate, app, auth, client, db, db_url, make_agent, make_commune,  # noqa: F401
                              parent_caller, unique)

from identity.households import user_by_sub
from identity.oidc import consent
from identity.oidc.clients import ensure_client
from identity.oidc.models import Token

pytestmark = pytest.mark.integration


def test_parent_lists_and_withdraws_consents(client, db):
    done = activate(client, db, make_agent(db, make_commune(db)), f"{unique('parent')}@example.org")
    me = auth(parent_caller(done["sub"]))
    portal_id, platform_id = unique("portal"), unique("platform")
    with db.transaction() as s:
        user = user_by_sub(s, done["sub"])
        portal = ensure_client(s, portal_id, "secret-portal", "Portail des factures", ["http://127.0.0.1:8765/cb"], False)
        platform = ensure_client(s, platform_id, "secret-platform", "Espace Famille", ["http://127.0.0.1/cb"], True)
        consent.record(s, user.id, portal, "openid email profile", "explicit")
        consent.ensure_implicit(s, user.id, platform, "openid")
        now = datetime.now(timezone.utc)
        s.add(Token(family_id=unique("family"), client_id=portal_id, user_id=user.id, sid=unique("sid"),
                    scope="openid", access_jti=unique("jti"), access_expires_at=now + timedelta(minutes=5),
                    auth_time=now))

    listed = client.get("/internal/me/consents", headers=me)
    assert listed.status_code == 200
    items = listed.json()["items"]
    assert [(i["client_id"], i["name"]) for i in items] == [(portal_id, "Portail des factures")]
    assert set(items[0]["scope"]) == {"openid", "email", "profile"}

    assert client.delete(f"/internal/me/consents/{portal_id}", headers=me).status_code == 204
    assert client.get("/internal/me/consents", headers=me).json()["items"] == []
    with db.read() as s:
        assert s.scalars(sa.select(Token.revoked_at).where(Token.client_id == portal_id)).all()[0] is not None
    again = client.delete(f"/internal/me/consents/{portal_id}", headers=me)
    assert again.status_code == 404 and again.json()["detail"] == "Cette application n'a pas accès à votre compte."
