"""A request's life: brouillon → envoyee → en_cours → acceptee / refusee.

Only the parent moves a draft (submit); only an agent moves a sent request. A refusal carries
the agent's message (the parent must know why). Accepted and refused are final.
"""
from __future__ import annotations

DRAFT, SENT, IN_PROGRESS, ACCEPTED, REFUSED = "brouillon", "envoyee", "en_cours", "acceptee", "refusee"
STATUSES = (DRAFT, SENT, IN_PROGRESS, ACCEPTED, REFUSED)
PENDING = (SENT, IN_PROGRESS)  # waiting for the commune
FINAL = (ACCEPTED, REFUSED)

LABELS = {DRAFT: "Brouillon", SENT: "Envoyée", IN_PROGRESS: "En cours", ACCEPTED: "Acceptée", REFUSED: "Refusée"}

_PARENT_MOVES = {DRAFT: (SENT,)}
_AGENT_MOVES = {SENT: (IN_PROGRESS, ACCEPTED, REFUSED), IN_PROGRESS: (ACCEPTED, REFUSED)}

MAX_MESSAGE = 4000


class IllegalTransition(Exception):
    """A move the state machine forbids; its text is the French reason shown to the user."""


def check_move(current: str, target: str, by: str, message: str | None = None) -> str | None:
    """The cleaned message of a legal move by "parent" or "agent"; raises IllegalTransition."""
    moves = _PARENT_MOVES if by == "parent" else _AGENT_MOVES
    if target not in STATUSES:
        raise IllegalTransition(f"Statut inconnu : « {target} ».")
    if target not in moves.get(current, ()):
        if current in FINAL:
            raise IllegalTransition(f"Cette demande est déjà {LABELS[current].lower()} : elle ne peut plus changer.")
        raise IllegalTransition(
            f"Une demande « {LABELS[current]} » ne peut pas passer à « {LABELS[target]} ».")
    message = (message or "").strip() or None
    if message is not None and len(message) > MAX_MESSAGE:
        raise IllegalTransition(f"Le message ne peut pas dépasser {MAX_MESSAGE} caractères.")
    if target == REFUSED and message is None:
        raise IllegalTransition("Un refus doit être motivé : écrivez un message à la famille.")
    return message
