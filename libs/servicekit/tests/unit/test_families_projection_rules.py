"""Tenancy rules of the families projection (pure: no database)."""
import pytest

from servicekit.projections.families import visible_communes
from servicekit.tokens import Caller

COMMUNES = ["heillecourt", "ludres"]


def test_agent_sees_only_their_commune():
    agent = Caller(sub="a1", role="agent", commune="ludres")
    assert visible_communes(agent, COMMUNES, "fam-1") == ["ludres"]


@pytest.mark.parametrize("role", ["agent", "admin"])
def test_agent_or_admin_of_another_commune_sees_nothing(role):
    caller = Caller(sub="a2", role=role, commune="nancy")
    assert visible_communes(caller, COMMUNES, "fam-1") is None


def test_agent_without_active_commune_sees_nothing():
    assert visible_communes(Caller(sub="a3", role="agent"), COMMUNES, "fam-1") is None


def test_parent_sees_every_commune_of_their_own_family():
    parent = Caller(sub="p1", role="parent", family_id="fam-1")
    assert visible_communes(parent, COMMUNES, "fam-1") == COMMUNES


def test_parent_cannot_see_another_family():
    parent = Caller(sub="p2", role="parent", family_id="fam-2")
    assert visible_communes(parent, COMMUNES, "fam-1") is None


@pytest.mark.parametrize("role", ["operator", "system"])
def test_platform_roles_see_every_commune(role):
    assert visible_communes(Caller(sub="ops", role=role), COMMUNES, "fam-1") == COMMUNES
