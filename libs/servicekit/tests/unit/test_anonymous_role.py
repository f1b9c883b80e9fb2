"""Visitors who are not signed in travel as role "anonymous", which sees nothing tenant-scoped."""
from servicekit import tokens
from servicekit.projections.families import visible_communes

SECRET = "anonymous-role-test-secret-0123456789abcdef"


def test_an_anonymous_service_token_can_be_minted_and_verified():
    caller = tokens.Caller(sub="gateway", role=tokens.ANONYMOUS, name="anonymous")
    again = tokens.verify(tokens.mint(caller, "booking", SECRET), "booking", SECRET)
    assert again.role == "anonymous" and again.commune is None and again.family_id is None


def test_anonymous_sees_no_family_while_system_sees_every_commune():
    communes = ["heillecourt", "ludres"]
    assert visible_communes(tokens.Caller(sub="gateway", role="anonymous"), communes, "fam-1") is None
    assert visible_communes(tokens.Caller(sub="worker", role="system"), communes, "fam-1") == communes
