"""Creating a request honours the gateway's Idempotency-Key: the same form sent twice (double
click, browser resend) makes one request and gets the same answer."""
from __future__ import annotations

import pytest
import sqlalchemy as sa

from demandes.models import requests as requests_table

pytestmark = pytest.mark.integration


def _create(world, family, key, subject="Question"):
    body = {"category_id": world.category("autre")["id"], "data": {"subject": subject, "message": "Bonjour"}}
    return world.client.post("/internal/me/requests", json=body,
                             headers={**family.headers, "Idempotency-Key": key})


def _count(db, family) -> int:
    with db.read() as s:
        return s.scalar(sa.select(sa.func.count()).select_from(requests_table)
                        .where(requests_table.c.family_id == family.family_id))


def test_the_same_key_twice_makes_one_request(world, db):
    family = world.family()
    key = "formulaire-demande-0001"
    first, second = _create(world, family, key), _create(world, family, key)
    assert first.status_code == second.status_code == 201, second.text
    assert first.json()["id"] == second.json()["id"]
    assert _count(db, family) == 1


def test_another_request_under_the_same_key_is_refused(world, db):
    family = world.family()
    assert _create(world, family, "formulaire-demande-0002").status_code == 201
    other = _create(world, family, "formulaire-demande-0002", subject="Autre chose")
    assert other.status_code == 422
    assert _count(db, family) == 1
