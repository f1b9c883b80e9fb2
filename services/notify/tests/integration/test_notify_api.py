"""Notify's internal API: list and retry, with the service token and the tenancy rules."""
from datetime import datetime, timedelta, timezone
from pathlib import Path

import pytest
import sqlalchemy as sa
from sqlalchemy.dialects import postgresql

from contracts.identity import ActivationIssued, PasswordResetRequested
from servicekit import migrations, testing, tokens

import notify
from notify import app as notify_app, db as notify_db, handlers, settings as notify_settings
from notify.models import agents, notifications
from notify_test_support import identity_envelope

pytestmark = pytest.mark.integration

MIGRATIONS = Path(notify.__file__).resolve().parent.parent / "migrations"
SECRET = "notify-test-service-token-secret-0123456789"


@pytest.fixture(scope="module")
def api_db_url():
    """One database for the module (migrations take seconds); each test starts from empty tables."""
    url = testing.create_pg_database("notify_api")
    migrations.upgrade(MIGRATIONS, url)
    yield url
    testing.drop_pg_database(url)


@pytest.fixture
def client(api_db_url, monkeypatch):
    monkeypatch.setenv("NOTIFY_DATABASE_URL", api_db_url)
    monkeypatch.setenv("SERVICE_TOKEN_SECRET", SECRET)
    monkeypatch.setenv("EF_ENV", "test")
    for cached in (notify_settings.get_settings, notify_db.get_db):
        cached.cache_clear()
    with notify_db.get_db().transaction() as s:
        s.execute(sa.text("TRUNCATE notifications, preferences, undeliverable_addresses, agents"))
    yield notify_app.create_app().test_client()
    notify_db.get_db().dispose()
    for cached in (notify_settings.get_settings, notify_db.get_db):
        cached.cache_clear()


def record(event) -> str:
    with notify_db.get_db().transaction() as s:
        [notification_id] = handlers.record_notification(s, identity_envelope(event), notify_settings.get_settings())
    return notification_id


def activation(email, commune="heillecourt"):
    return ActivationIssued(activation_id="a", family_id="f", commune=commune, commune_name=commune.title(),
                            family_name="Martin", email=email, link="http://127.0.0.1:8000/a/x",
                            expires_at=datetime.now(timezone.utc) + timedelta(hours=48), existing_account=False)


def set_status(notification_id, status):
    with notify_db.get_db().transaction() as s:
        s.execute(notifications.update().where(notifications.c.id == notification_id)
                  .values(status=status, attempts=8, last_error="boom"))


def auth(role, commune=None, on_record=True, **kw):
    """A service token; an agent or admin is also on record in notify's agents projection
    (identity's agent.assigned.v1), unless `on_record` is False."""
    caller = tokens.Caller(sub=f"{role}-{commune}", role=role, commune=commune, **kw)
    if role in ("agent", "admin") and commune and on_record:
        now = datetime.now(timezone.utc)
        with notify_db.get_db().transaction() as s:
            s.execute(postgresql.insert(agents).values(user_id=caller.sub, commune=commune, role=role, active=True,
                                                       changed_at=now, updated_at=now).on_conflict_do_nothing())
    return {"Authorization": "Bearer " + tokens.mint(caller, "notify", SECRET)}


def operator():
    # Minted when used: a token made at import time would expire (60 s) before a long run reaches it.
    return auth("operator")


def test_list_filters_by_recipient_and_status_newest_first(client):
    first = record(activation("Parent@Example.org"))
    second = record(activation("parent@example.org"))
    record(activation("other@example.org"))
    set_status(first, "failed")
    r = client.get("/internal/notifications", params={"recipient": "PARENT@example.org"}, headers=operator())
    assert r.status_code == 200
    items = r.json()["items"]
    assert [i["id"] for i in items] == [second, first]
    assert items[0]["subject"] == "Activez votre Espace Famille — Heillecourt"
    assert items[0]["status"] == "queued" and items[0]["created_at"].endswith("+00:00")
    failed = client.get("/internal/notifications", params={"status": "failed"}, headers=operator()).json()["items"]
    assert [i["id"] for i in failed] == [first]
    assert failed[0]["last_error"] == "boom"


def test_agents_see_only_their_commune(client):
    mine = record(activation("a@example.org", "heillecourt"))
    record(activation("b@example.org", "ludres"))
    record(PasswordResetRequested(reset_id="r", user_id="u", email="c@example.org", link="http://x/r",
                                  expires_at=datetime.now(timezone.utc)))  # no commune: operators only
    for role in ("agent", "admin"):
        items = client.get("/internal/notifications", headers=auth(role, "heillecourt")).json()["items"]
        assert [i["id"] for i in items] == [mine]
    assert len(client.get("/internal/notifications", headers=operator()).json()["items"]) == 3


@pytest.mark.parametrize("caller", [dict(role="parent", family_id="f"), dict(role="agent")], ids=["parent", "agent-no-commune"])
def test_forbidden_callers(client, caller):
    r = client.get("/internal/notifications", headers=auth(**caller))
    assert r.status_code == 403
    assert r.headers["content-type"].startswith("application/problem+json")
    assert "accès" in r.json()["detail"] or "plus agent" in r.json()["detail"]


def test_no_token_is_401(client):
    assert client.get("/internal/notifications").status_code == 401
    assert client.post("/internal/notifications/x/retry").status_code == 401


def test_bad_filters_are_400(client):
    r = client.get("/internal/notifications", params={"status": "lost"}, headers=operator())
    assert r.status_code == 400
    assert client.get("/internal/notifications", params={"limit": "0"}, headers=operator()).status_code == 400


def test_retry_requeues_a_failed_notification(client):
    nid = record(activation("a@example.org"))
    set_status(nid, "failed")
    r = client.post(f"/internal/notifications/{nid}/retry", headers=auth("agent", "heillecourt"))
    assert r.status_code == 200
    body = r.json()
    assert (body["status"], body["attempts"], body["next_attempt_at"]) == ("queued", 0, None)
    with notify_db.get_db().read() as s:
        assert s.execute(sa.select(notifications.c.status).where(notifications.c.id == nid)).scalar() == "queued"


def test_retry_refuses_what_is_not_failed(client):
    nid = record(activation("a@example.org"))
    r = client.post(f"/internal/notifications/{nid}/retry", headers=operator())
    assert r.status_code == 409 and "déjà en file d’envoi" in r.json()["detail"]
    set_status(nid, "sent")
    r = client.post(f"/internal/notifications/{nid}/retry", headers=operator())
    assert r.status_code == 409 and "déjà envoyé" in r.json()["detail"]


def test_retry_of_unknown_or_other_commune_is_404(client):
    nid = record(activation("a@example.org", "ludres"))
    set_status(nid, "failed")
    assert client.post("/internal/notifications/nope/retry", headers=operator()).status_code == 404
    r = client.post(f"/internal/notifications/{nid}/retry", headers=auth("agent", "heillecourt"))
    assert r.status_code == 404 and r.json()["detail"] == "Cet e-mail est introuvable."


# --- the caller's choice of e-mails ---------------------------------------------------------------
def test_a_parent_reads_and_changes_their_preferences(client):
    parent = auth("parent", family_id="f")
    items = client.get("/internal/me/preferences", headers=parent).json()["items"]
    assert {"kind": "cart_validated", "label": "Récapitulatif du panier validé", "optional": True,
            "enabled": True} in items
    r = client.put("/internal/me/preferences", headers=parent,
                   json={"items": [{"kind": "cart_validated", "enabled": False}]})
    assert r.status_code == 200
    assert {i["kind"]: i["enabled"] for i in r.json()["items"]}["cart_validated"] is False
    again = client.get("/internal/me/preferences", headers=auth("parent", family_id="f")).json()["items"]
    assert {i["kind"]: i["enabled"] for i in again}["cart_validated"] is False
    # Another parent's choices are their own.
    other = tokens.Caller(sub="someone-else", role="parent", family_id="g")
    other_items = client.get("/internal/me/preferences", headers={
        "Authorization": "Bearer " + tokens.mint(other, "notify", SECRET)}).json()["items"]
    assert {i["kind"]: i["enabled"] for i in other_items}["cart_validated"] is True


def test_a_mandatory_message_cannot_be_turned_off(client):
    r = client.put("/internal/me/preferences", headers=auth("parent", family_id="f"),
                   json={"items": [{"kind": "payment_received", "enabled": False}]})
    assert r.status_code == 422 and r.headers["content-type"].startswith("application/problem+json")
    assert r.json()["detail"] == "L’e-mail « Paiement reçu » est toujours envoyé : il ne peut pas être désactivé."


@pytest.mark.parametrize("body", [{}, {"items": [{"kind": "cart_validated"}]},
                                  {"items": [{"kind": "cart_validated", "enabled": "non"}]}, {"items": "all"}])
def test_malformed_preferences_are_400(client, body):
    r = client.put("/internal/me/preferences", headers=auth("parent", family_id="f"), json=body)
    assert r.status_code == 400 and r.headers["content-type"].startswith("application/problem+json")


def test_operators_have_no_preferences_and_nobody_without_a_token(client):
    assert client.get("/internal/me/preferences", headers=operator()).status_code == 403
    assert client.get("/internal/me/preferences").status_code == 401


# --- undeliverable addresses ---------------------------------------------------------------------
def refuse(notification_id, at):
    from notify import undeliverable
    with notify_db.get_db().transaction() as s:
        row = s.execute(sa.select(notifications).where(notifications.c.id == notification_id)).mappings().one()
        undeliverable.record_refusal(s, row, "550 5.1.1 Mailbox unavailable", at)


def test_agents_see_their_communes_undeliverable_addresses(client):
    now = datetime.now(timezone.utc)
    mine = record(activation("Gone@Example.org", "heillecourt"))
    refuse(mine, now - timedelta(hours=1))
    refuse(mine, now)  # refused again: one row, counted twice
    refuse(record(activation("lost@example.org", "ludres")), now)
    r = client.get("/internal/undeliverable-addresses", headers=auth("agent", "heillecourt"))
    assert r.status_code == 200
    [item] = r.json()["items"]
    assert (item["email"], item["commune"], item["family_id"], item["refusals"]) == ("gone@example.org",
                                                                                     "heillecourt", "f", 2)
    assert item["last_error"] == "550 5.1.1 Mailbox unavailable" and item["last_notification_id"] == mine
    assert len(client.get("/internal/undeliverable-addresses", headers=operator()).json()["items"]) == 2
    assert client.get("/internal/undeliverable-addresses", headers=auth("parent", family_id="f")).status_code == 403
    # An agent identity no longer backs is refused.
    r = client.get("/internal/undeliverable-addresses", headers=auth("agent", "ludres", on_record=False))
    assert r.status_code == 403
