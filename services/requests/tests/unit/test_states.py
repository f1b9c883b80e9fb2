"""The request state machine: who moves what, and the refusal message rule."""
import pytest

from demandes.domain import states
from demandes.domain.states import IllegalTransition, check_move


def test_the_parent_only_sends_a_draft():
    assert check_move("brouillon", "envoyee", "parent") is None
    for target in ("en_cours", "acceptee", "refusee"):
        with pytest.raises(IllegalTransition):
            check_move("brouillon", target, "parent")
    with pytest.raises(IllegalTransition):
        check_move("envoyee", "envoyee", "parent")


@pytest.mark.parametrize("current, target", [("envoyee", "en_cours"), ("envoyee", "acceptee"),
                                             ("en_cours", "acceptee"), ("en_cours", "refusee"),
                                             ("envoyee", "refusee")])
def test_agents_move_sent_requests(current, target):
    assert check_move(current, target, "agent", "  Motif.  ") == "Motif."


def test_agents_never_touch_drafts_nor_go_back():
    with pytest.raises(IllegalTransition, match="Brouillon"):
        check_move("brouillon", "en_cours", "agent")
    with pytest.raises(IllegalTransition):
        check_move("en_cours", "envoyee", "agent")


@pytest.mark.parametrize("final", states.FINAL)
def test_final_states_do_not_move(final):
    for target in states.STATUSES:
        with pytest.raises(IllegalTransition, match="déjà"):
            check_move(final, target, "agent", "x")


def test_a_refusal_is_explained_and_messages_are_bounded():
    with pytest.raises(IllegalTransition, match="motivé"):
        check_move("en_cours", "refusee", "agent", "   ")
    with pytest.raises(IllegalTransition, match="4000"):
        check_move("en_cours", "acceptee", "agent", "x" * 4001)
    with pytest.raises(IllegalTransition, match="inconnu"):
        check_move("en_cours", "archivee", "agent")
