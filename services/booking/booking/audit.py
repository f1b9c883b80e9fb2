"""The audit trail agents read: every act of an agent (and automatic decisions they answer for)."""
from __future__ import annotations

from typing import Any

import sqlalchemy as sa
from sqlalchemy.orm import Session

from servicekit.types import isoformat_utc, utcnow

from booking.models import audit_entries

SYSTEM = "system"


def record(session: Session, commune: str, actor: str, action: str, **details: Any) -> None:
    clean = {k: (v.isoformat() if hasattr(v, "isoformat") else v) for k, v in details.items()}
    session.execute(audit_entries.insert().values(commune=commune, actor=actor, action=action, details=clean,
                                                  at=utcnow()))


def page(session: Session, commune: str, page: int, per_page: int) -> dict:
    base = sa.select(audit_entries).where(audit_entries.c.commune == commune)
    total = session.execute(sa.select(sa.func.count()).select_from(base.subquery())).scalar_one()
    rows = session.execute(base.order_by(audit_entries.c.at.desc(), audit_entries.c.id.desc())
                           .offset((page - 1) * per_page).limit(per_page)).mappings()
    return {"items": [{"id": r["id"], "at": isoformat_utc(r["at"]), "actor": r["actor"], "action": r["action"],
                       "details": r["details"]} for r in rows],
            "page": page, "per_page": per_page, "total": total}
