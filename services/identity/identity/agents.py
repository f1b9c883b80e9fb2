"""Agents' assignments to communes, and the events that tell the other services.

booking, billing and requests trust an agent's commune only while their `agents` projection
(servicekit.projections.agents) says the assignment is current: every change here publishes
`agent.assigned.v1` or `agent.removed.v1` in the same transaction.

Operator commands (`python -m identity <command>`):

    remove-agent     --commune ludres --email agent@mairie.fr
                     the assignment ends; the agent's sign-in sessions end (relying parties get
                     back-channel logout) and their next call to any service for that commune is refused
    publish-agents   announce every current assignment again (a service whose projection was
                     reset or that joined later catches up; consumers are idempotent)
"""
from __future__ import annotations

import sys

import sqlalchemy as sa
from sqlalchemy.orm import Session

from contracts.identity import AgentAssigned, AgentRemoved
from servicekit.messaging.outbox import add_event

from identity import audit, sessions
from identity.db import get_db
from identity.households import user_by_email
from identity.models import AgentAssignment, User, utcnow
from identity.profile_rules import normalise_email

SOURCE = "identity"


def assign(session: Session, user: User, commune_slug: str, role: str) -> AgentAssignment:
    """Make `user` agent (or admin) of the commune, and announce it (again: consumers are idempotent)."""
    assignment = session.get(AgentAssignment, (user.id, commune_slug), with_for_update=True)
    if assignment is None:
        assignment = AgentAssignment(user_id=user.id, commune_slug=commune_slug, role=role)
        session.add(assignment)
        audit.record(session, "agent.added", subject_user_id=user.id, commune_slug=commune_slug, role=role)
    elif assignment.role != role:
        assignment.role = role
        audit.record(session, "agent.role_changed", subject_user_id=user.id, commune_slug=commune_slug, role=role)
    session.flush()
    _announce(session, user.sub, assignment, utcnow())
    return assignment


def remove(session: Session, user: User, commune_slug: str) -> bool:
    """End the assignment (False if there was none). The agent's SSO sessions end too: their
    claims (agent_of) are stale, and relying parties (the gateway) are told by back-channel logout."""
    assignment = session.get(AgentAssignment, (user.id, commune_slug), with_for_update=True)
    if assignment is None:
        return False
    session.delete(assignment)
    session.flush()
    # Timed after the row is gone (and its lock held): any announcement of the assignment that
    # read it before is older, so the projections keep the removal (newer fact wins).
    now = utcnow()
    add_event(session, SOURCE, AgentRemoved(user_id=user.sub, commune=commune_slug, removed_at=now))
    ended = sessions.end_all_for_user(session, user.id, reason="agent_removed")
    audit.record(session, "agent.removed", subject_user_id=user.id, commune_slug=commune_slug,
                 sessions_ended=len(ended))
    return True


def publish_all(session: Session) -> int:
    """Announce every current assignment again; how many. Also run by identity's worker every
    few hours, so that a projection that missed events (a service deployed later, a reset)
    heals by itself."""
    # Timed before reading, rows locked: a removal racing with this gets a later time and wins.
    now = utcnow()
    rows = session.execute(sa.select(AgentAssignment, User.sub).join(User, User.id == AgentAssignment.user_id)
                           .with_for_update(of=AgentAssignment)).all()
    for assignment, sub in rows:
        _announce(session, sub, assignment, now)
    return len(rows)


def _announce(session: Session, sub: str, assignment: AgentAssignment, at) -> None:
    add_event(session, SOURCE, AgentAssigned(user_id=sub, commune=assignment.commune_slug, role=assignment.role,
                                             assigned_at=at))


# --- commands --------------------------------------------------------------------------------------
def _remove_configure(parser):
    parser.add_argument("--commune", required=True, help="commune slug")
    parser.add_argument("--email", required=True)


def _remove_run(args) -> int:
    with get_db().transaction() as s:
        user = user_by_email(s, normalise_email(args.email))
        removed = user is not None and remove(s, user, args.commune)
    if not removed:
        print(f"remove-agent: {args.email} is not an agent of {args.commune}", file=sys.stderr)
        return 1
    print(f"remove-agent: {normalise_email(args.email)} is no longer an agent of {args.commune}")
    return 0


def _publish_run(_args) -> int:
    with get_db().transaction() as s:
        count = publish_all(s)
    print(f"publish-agents: {count} assignment(s) announced")
    return 0


COMMANDS = {
    "remove-agent": ("end a user's assignment to a commune (and their sessions)", _remove_configure, _remove_run),
    "publish-agents": ("announce every current agent assignment again", lambda parser: None, _publish_run),
}
