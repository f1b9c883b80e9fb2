"""identity's retention job deletes OIDC codes, tokens, form tickets, SSO sessions and sign-in
links past their retention, and nothing that could still be used (PostgreSQL)."""
from __future__ import annotations

from datetime import datetime, timedelta, timezone

import pytest
import sqlalchemy as sa

from servicekit import migrations
from servicekit.db import Database

from identity import retention
from identity.models import User
from identity.oidc.models import AuthorizationCode, FormTicket, OAuthClient, SessionLogout, Token
from identity.oidc.testing import MIGRATIONS
from identity.settings import IdentitySettings
from identity.signin.models import PasswordResetToken, SsoSessionRecord, TotpEnrolment
from identity.worker import create_worker

pytestmark = pytest.mark.integration

NOW = datetime(2026, 10, 1, 12, 0, tzinfo=timezone.utc)
SETTINGS = IdentitySettings(service="identity", oidc_retention_days=7, sso_session_retention_days=30,
                            signin_link_retention_days=30)


@pytest.fixture
def db(pg_url):
    migrations.upgrade(MIGRATIONS, pg_url)
    database = Database(pg_url)
    yield database
    database.dispose()


def ago(**delta) -> datetime:
    return NOW - timedelta(**delta)


def seed(db) -> None:
    with db.transaction() as s:
        s.add(User(id="u1", email="camille@example.org", is_active=True))
        s.add(OAuthClient(client_id="portal", name="Portail", redirect_uris=["https://p.example.org/cb"]))
        s.flush()

        def code(name, expires):
            s.add(AuthorizationCode(id=name, code_hash=name.ljust(64, "0"), client_id="portal", user_id="u1",
                                    sid="s", redirect_uri="https://p.example.org/cb", code_challenge="c",
                                    auth_time=expires, created_at=expires, expires_at=expires))

        def token(name, access, refresh):
            s.add(Token(id=name, family_id=name, client_id="portal", user_id="u1", sid="s", access_jti=name,
                        access_expires_at=access, refresh_hash=name.ljust(64, "1") if refresh else None,
                        refresh_expires_at=refresh, auth_time=access, created_at=access))

        def sso(sid, created, ended=None):
            s.add(SsoSessionRecord(sid=sid, token_hash=sid.ljust(64, "2"), user_id="u1", created_at=created,
                                   auth_time=created, last_seen_at=created, ended_at=ended))

        code("code-old", ago(days=8))
        code("code-recent", ago(days=6))
        token("token-old", ago(days=9), ago(days=8))
        token("token-refresh-alive", ago(days=9), NOW + timedelta(hours=2))  # access expired, refresh usable
        token("token-no-refresh-old", ago(days=8), None)
        s.add(FormTicket(ticket_hash="t-old".ljust(64, "3"), purpose="logout", sid="s", expires_at=ago(days=8)))
        s.add(FormTicket(ticket_hash="t-new".ljust(64, "3"), purpose="logout", sid="s", expires_at=ago(days=1)))
        sso("sso-ended-long-ago", ago(days=40), ended=ago(days=31))
        sso("sso-ended-recently", ago(days=10), ended=ago(days=10))
        sso("sso-never-ended-old", ago(days=31))              # expired (12 h) long ago, never marked
        sso("sso-open", ago(hours=1))
        s.add(SessionLogout(sid="sso-ended-long-ago", at=ago(days=31)))
        s.add(SessionLogout(sid="sso-ended-recently", at=ago(days=10)))
        s.add(PasswordResetToken(id="reset-old", user_id="u1", token_hash="r-old".ljust(64, "4"),
                                 created_at=ago(days=31, hours=1), expires_at=ago(days=31)))
        s.add(PasswordResetToken(id="reset-new", user_id="u1", token_hash="r-new".ljust(64, "4"),
                                 created_at=ago(minutes=5), expires_at=NOW + timedelta(minutes=55)))
        s.add(TotpEnrolment(id="enrol-old", user_id="u1", token_hash="e-old".ljust(64, "5"), secret="X",
                            created_at=ago(days=32), expires_at=ago(days=31)))
        s.add(TotpEnrolment(id="enrol-new", user_id="u1", token_hash="e-new".ljust(64, "5"), secret="X",
                            created_at=ago(hours=1), expires_at=NOW + timedelta(hours=23)))


def remaining(db) -> dict[str, set[str]]:
    with db.read() as s:
        return {
            "codes": set(s.scalars(sa.select(AuthorizationCode.id))),
            "tokens": set(s.scalars(sa.select(Token.id))),
            "tickets": {t[:5] for t in s.scalars(sa.select(FormTicket.ticket_hash))},
            "sso": set(s.scalars(sa.select(SsoSessionRecord.sid))),
            "logouts": set(s.scalars(sa.select(SessionLogout.sid))),
            "resets": set(s.scalars(sa.select(PasswordResetToken.id))),
            "enrolments": set(s.scalars(sa.select(TotpEnrolment.id))),
        }


def test_purge_deletes_only_what_is_past_retention(db):
    seed(db)
    with db.transaction() as s:
        counts = retention.purge(s, SETTINGS, now=NOW)
    assert remaining(db) == {
        "codes": {"code-recent"},
        "tokens": {"token-refresh-alive"},
        "tickets": {"t-new"},
        "sso": {"sso-ended-recently", "sso-open"},
        "logouts": {"sso-ended-recently"},
        "resets": {"reset-new"},
        "enrolments": {"enrol-new"},
    }
    assert counts["oidc_tokens"] == 2 and counts["sso_sessions"] == 2
    with db.transaction() as s:  # a second run finds nothing more
        assert sum(retention.purge(s, SETTINGS, now=NOW).values()) == 0


def test_retention_is_configurable(db):
    seed(db)
    longer = SETTINGS.model_copy(update={"oidc_retention_days": 10, "sso_session_retention_days": 60,
                                         "signin_link_retention_days": 60})
    with db.transaction() as s:
        retention.purge(s, longer, now=NOW)
    left = remaining(db)
    assert left["codes"] == {"code-old", "code-recent"} and "sso-ended-long-ago" in left["sso"]
    assert left["resets"] == {"reset-old", "reset-new"}


def test_the_worker_runs_the_retention_job_hourly(db):
    worker = create_worker(SETTINGS, db)
    [job] = [j for j in worker.jobs if j.name == "retention"]
    assert job.seconds == 3600
    seed(db)
    job.fn(db)  # with the real clock: everything seeded "long ago" relative to 2026-10-01 is old now too
    assert "code-old" not in remaining(db)["codes"]
