"""The communes (tenants), public to every caller."""
from __future__ import annotations

import sqlalchemy as sa
from sqlalchemy.orm import Session

from identity.errors import NotFound
from identity.household_views import commune_view
from identity.models import Commune


def list_communes(session: Session) -> list[dict]:
    # Columns, not entities: the platform's most frequent read needs no identity map.
    return [commune_view(c) for c in session.execute(sa.select(Commune.slug, Commune.name).order_by(Commune.name))]


def get_commune(session: Session, slug: str) -> dict:
    commune = session.get(Commune, slug)
    if commune is None:
        raise NotFound("Cette commune n'existe pas.")
    return commune_view(commune)
