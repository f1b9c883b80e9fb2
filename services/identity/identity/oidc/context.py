"""What one provider request works with: the settings, the database session of the request,
the clock. Views open one write transaction per request and put its session here; the
Authlib callbacks (which receive no session) read it back."""
from __future__ import annotations

from contextlib import contextmanager
from datetime import datetime, timezone

from flask import current_app, g
from sqlalchemy.orm import Session

from servicekit.db import Database


def now() -> datetime:
    return datetime.now(timezone.utc)


def settings():
    return current_app.config["OIDC_SETTINGS"]


def database() -> Database:
    return current_app.config["OIDC_DB"]


def db() -> Session:
    return g.oidc_db


@contextmanager
def unit_of_work():
    """One write transaction for the request; committed even when the answer is an OAuth
    error, so that revocations decided while refusing a request (code or refresh-token
    replay) are kept."""
    with database().transaction() as session:
        previous = g.get("oidc_db")
        g.oidc_db = session
        try:
            yield session
        finally:
            g.oidc_db = previous
