"""apply_address_change: the one way a home address or a child's alternate address changes
(called when a request asking for it is accepted). On an in-memory SQLite database."""
from datetime import date

import pytest
import sqlalchemy as sa
from sqlalchemy.orm import Session

from identity.errors import InvalidInput, NotFound
from identity.households import apply_address_change
from identity.models import AuditEntry, Base, Child, Family, Guardian

NEW = {"street": "12 avenue de la Paix", "postcode": "54710", "city": "Ludres"}


@pytest.fixture
def session():
    engine = sa.create_engine("sqlite://")
    Base.metadata.create_all(engine)
    with Session(engine) as s:
        yield s
    engine.dispose()


@pytest.fixture
def family(session):
    family = Family(name="Martin")
    other = Family(name="Autre")
    guardian = Guardian(family=family, given_name="Claire", street="3 rue des Lilas", postcode="54180",
                        city="Heillecourt", is_primary=True)
    child = Child(family=family, given_name="Léa", family_name="Martin", birth_date=date(2017, 3, 2))
    stranger = Child(family=other, given_name="Zoé", family_name="Autre", birth_date=date(2018, 1, 1))
    session.add_all([family, other, guardian, child, stranger])
    session.flush()
    return {"family": family, "guardian": guardian, "child": child, "stranger": stranger}


def test_home_address_of_a_guardian(session, family):
    apply_address_change(session, family["family"].id, guardian_id=family["guardian"].id, address=NEW)
    g = family["guardian"]
    assert (g.street, g.postcode, g.city) == ("12 avenue de la Paix", "54710", "Ludres")
    assert session.scalars(sa.select(AuditEntry.action)).all() == ["address.changed"]


def test_alternate_address_of_a_child(session, family):
    apply_address_change(session, family["family"].id, child_id=family["child"].id,
                         address={**NEW, "postcode": "54 710"})
    c = family["child"]
    assert (c.alternate_street, c.alternate_postcode, c.alternate_city) == ("12 avenue de la Paix", "54710", "Ludres")


def test_only_within_the_named_family(session, family):
    with pytest.raises(NotFound):
        apply_address_change(session, family["family"].id, child_id=family["stranger"].id, address=NEW)
    with pytest.raises(NotFound):
        apply_address_change(session, "no-such-family", guardian_id=family["guardian"].id, address=NEW)


def test_bad_address_or_target(session, family):
    with pytest.raises(InvalidInput):
        apply_address_change(session, family["family"].id, guardian_id=family["guardian"].id, address={"city": "X"})
    with pytest.raises(ValueError):
        apply_address_change(session, family["family"].id, address=NEW)
    with pytest.raises(ValueError):
        apply_address_change(session, family["family"].id, guardian_id="g", child_id="c", address=NEW)
