"""What requests learns from identity: the families' children (the child picker of forms and
its tenancy). Each handler is idempotent on its own: a late event never moves a fact backwards."""
from __future__ import annotations

from sqlalchemy.orm import Session

from contracts import identity
from contracts.envelope import Envelope
from servicekit.db import dialect_insert

from demandes.models import children


def on_child_facts(session: Session, envelope: Envelope) -> None:
    model = identity.ChildAdded if envelope.type == identity.ChildAdded.EVENT_TYPE else identity.ChildUpdated
    event = envelope.payload(model)
    facts = {"family_id": event.family_id, "given_name": event.given_name, "family_name": event.family_name,
             "changed_at": event.changed_at}
    stmt = dialect_insert(session, children).values(child_id=event.child_id, **facts)
    session.execute(stmt.on_conflict_do_update(index_elements=[children.c.child_id], set_=facts,
                                               where=children.c.changed_at <= event.changed_at))


def on_child_removed(session: Session, envelope: Envelope) -> None:
    event = envelope.payload(identity.ChildRemoved)
    session.execute(children.update().where(children.c.child_id == event.child_id,
                                            children.c.changed_at <= event.changed_at)
                    .values(removed_at=event.changed_at, changed_at=event.changed_at))


HANDLERS = (  # (source, event type, queue name, handler)
    ("identity", identity.ChildAdded.EVENT_TYPE, "children_added", on_child_facts),
    ("identity", identity.ChildUpdated.EVENT_TYPE, "children_updated", on_child_facts),
    ("identity", identity.ChildRemoved.EVENT_TYPE, "children_removed", on_child_removed),
)
