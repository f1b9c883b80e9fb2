"""Login throttling with exponential back-off, per account and per address, shared through
the database (SQLite and PostgreSQL). Time moves with the sign-in clock, never with sleep."""
import sys
from pathlib import Path

import pytest
import sqlalchemy as sa

sys.path.insert(0, str(Path(__file__).parent))
from signin_testkit import (PASSWORD, app, audit_actions, client, clock, db, db_url, login, make_user,  # noqa: F401
                            sso_cookie, unique, unique_ip)

from identity import passwords, throttle
from identity.models import AuditEntry

pytestmark = pytest.mark.integration
WRONG = "definitely not the password"


@pytest.fixture
def verifications(monkeypatch):
    """Counts password verifications (the real function still runs)."""
    calls = []
    real = passwords.verify_password

    def counting(password_hash, password):
        calls.append(password)
        return real(password_hash, password)

    monkeypatch.setattr(passwords, "verify_password", counting)
    return calls


def fail(client, email, times):
    for _ in range(times):
        r = login(client, email, WRONG)
        assert r.status_code == 401, r.text


def test_account_backs_off_exponentially_after_five_failures(client, db, clock, verifications):
    user = make_user(db)
    fail(client, user.email, throttle.ACCOUNT_FREE_FAILURES)  # the 5th starts a 1 s wait

    verifications.clear()
    blocked = login(client, user.email, PASSWORD)  # even the right password is not looked at
    assert blocked.status_code == 429
    assert verifications == [] and sso_cookie(client) is None
    assert "Trop de tentatives" in blocked.text and "patientez 1 seconde" in blocked.text
    assert blocked.headers["Retry-After"] == "1"

    clock.advance(seconds=1)
    fail(client, user.email, 1)  # 6th failure: 2 s
    clock.advance(seconds=1)
    assert login(client, user.email, PASSWORD).status_code == 429
    clock.advance(seconds=1)
    fail(client, user.email, 1)  # 7th failure: 4 s
    clock.advance(seconds=3)
    r = login(client, user.email, PASSWORD)
    assert r.status_code == 429 and r.headers["Retry-After"] == "1"
    clock.advance(seconds=1)
    assert login(client, user.email, PASSWORD).status_code == 302

    actions = audit_actions(db, user_id=user.id) + audit_actions(db, email=user.email)
    assert "signin.locked" in actions and "signin.throttled" in actions and "signin.succeeded" in actions


def test_success_resets_the_account_counter(client, db, clock):
    user = make_user(db)
    fail(client, user.email, throttle.ACCOUNT_FREE_FAILURES - 1)
    assert login(client, user.email, PASSWORD).status_code == 302
    fail(client, user.email, throttle.ACCOUNT_FREE_FAILURES - 1)
    # Four failures since the success: still no wait.
    assert login(client, user.email, PASSWORD).status_code == 302


def test_unknown_emails_are_throttled_like_real_accounts(client, db, clock):
    email = f"{unique('nobody')}@example.org"
    fail(client, email, throttle.ACCOUNT_FREE_FAILURES)
    assert login(client, email, WRONG).status_code == 429


def test_the_account_is_throttled_whatever_address_the_guesses_come_from(app, db, clock):
    user = make_user(db)
    for _ in range(throttle.ACCOUNT_FREE_FAILURES):
        browser = app.test_client(follow_redirects=False)
        browser.headers["X-Forwarded-For"] = unique_ip()
        assert login(browser, user.email, WRONG).status_code == 401
    browser = app.test_client(follow_redirects=False)
    browser.headers["X-Forwarded-For"] = unique_ip()
    assert login(browser, user.email, PASSWORD).status_code == 429


def test_one_address_guessing_many_accounts_is_throttled(app, client, db, clock):
    for _ in range(throttle.IP_FREE_FAILURES):
        assert login(client, f"{unique('target')}@example.org", WRONG).status_code == 401
    user = make_user(db)
    r = login(client, user.email, PASSWORD)
    assert r.status_code == 429
    # Another address is not affected.
    other = app.test_client(follow_redirects=False)
    other.headers["X-Forwarded-For"] = unique_ip()
    assert login(other, user.email, PASSWORD).status_code == 302
    # A success from the throttled address does not reset the address's counter.
    clock.advance(seconds=1)
    assert login(client, user.email, PASSWORD).status_code == 302
    assert login(client, f"{unique('target')}@example.org", WRONG).status_code == 401
    assert login(client, user.email, PASSWORD).status_code == 429


def test_address_counter_starts_over_after_a_quiet_hour(client, db, clock):
    for _ in range(throttle.IP_FREE_FAILURES):
        login(client, f"{unique('target')}@example.org", WRONG)
    clock.advance(hours=1, seconds=1)
    assert login(client, f"{unique('target')}@example.org", WRONG).status_code == 401
    assert login(client, f"{unique('target')}@example.org", WRONG).status_code == 401


def test_only_the_gateway_hop_of_x_forwarded_for_is_trusted(app, db):
    spoofed, real = "203.0.113.7", unique_ip()
    browser = app.test_client(follow_redirects=False)
    browser.headers["X-Forwarded-For"] = f"{spoofed}, {real}"
    user = make_user(db)
    login(browser, user.email, WRONG)
    with db.read() as s:
        ips = s.scalars(sa.select(AuditEntry.ip).where(AuditEntry.subject_user_id == user.id,
                                                       AuditEntry.action == "signin.failed")).all()
    assert ips == [real]


def _failed_sign_in_addresses(db, user) -> list[str]:
    with db.read() as s:
        return s.scalars(sa.select(AuditEntry.ip).where(AuditEntry.subject_user_id == user.id,
                                                        AuditEntry.action == "signin.failed")).all()


def test_x_forwarded_for_from_a_peer_that_is_not_a_trusted_proxy_is_ignored(app, db):
    user = make_user(db)
    direct = app.test_client(follow_redirects=False, client=("198.51.100.23", 50000))
    direct.headers["X-Forwarded-For"] = unique_ip()
    login(direct, user.email, WRONG)
    assert _failed_sign_in_addresses(db, user) == ["198.51.100.23"]


def test_parents_behind_the_gateway_are_throttled_each_on_their_own_address(app, client, db, clock):
    # Every browser below reaches identity from the same peer (the gateway, trusted).
    for _ in range(throttle.IP_FREE_FAILURES):
        assert login(client, f"{unique('target')}@example.org", WRONG).status_code == 401
    assert login(client, f"{unique('target')}@example.org", WRONG).status_code == 429
    user = make_user(db)
    for _ in range(3):
        parent = app.test_client(follow_redirects=False)
        parent.headers["X-Forwarded-For"] = unique_ip()
        assert login(parent, user.email, PASSWORD).status_code == 302


def test_counters_live_in_the_database_so_every_worker_agrees(app, db, clock):
    """A second app instance (another worker) on the same database sees the block."""
    from identity import db as identity_db, settings as identity_settings
    from identity.app import create_app

    user = make_user(db)
    browser = app.test_client(follow_redirects=False)
    browser.headers["X-Forwarded-For"] = unique_ip()
    fail(browser, user.email, throttle.ACCOUNT_FREE_FAILURES)
    identity_settings.get_settings.cache_clear()
    identity_db.get_db.cache_clear()
    second = create_app()
    try:
        other_worker = second.test_client(follow_redirects=False)
        other_worker.headers["X-Forwarded-For"] = unique_ip()
        assert login(other_worker, user.email, PASSWORD).status_code == 429
    finally:
        second.app.config["SERVICE_DB"].dispose()


def test_quiet_counters_are_purged_but_live_blocks_are_kept(client, db, clock):
    from identity.worker import purge_login_throttle

    quiet, blocked = f"{unique('quiet')}@example.org", make_user(db)
    login(client, quiet, WRONG)
    clock.advance(hours=24, seconds=1)
    fail(client, blocked.email, throttle.ACCOUNT_FREE_FAILURES)  # the last of these starts a block

    purge_login_throttle(db)  # the identity worker's hourly job

    with db.read() as s:
        keys = set(s.scalars(sa.select(throttle._table.c.key)))
    assert throttle.account_key(quiet) not in keys
    assert throttle.account_key(blocked.email) in keys
    assert login(client, blocked.email, PASSWORD).status_code == 429
