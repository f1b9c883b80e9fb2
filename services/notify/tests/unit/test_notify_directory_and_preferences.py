"""Who notify writes to (its directory built from identity's events) and what they chose to get."""
from datetime import timedelta

import pytest

from contracts.identity import (AgentAssigned, AgentRemoved, FamilyActivated, FamilyRegistered, GuardianAdded, GuardianRemoved,
                               PasswordChanged, PasswordResetRequested)
from servicekit.tokens import Caller

from notify import directory, handlers, preferences
from notify.preferences import PreferenceError
from notify.settings import NotifySettings
from notify_unit_support import PUBLIC_URL, T0, feed, heillecourt_agent, identity, martin_family

from contracts.billing import PaymentSucceeded
from contracts.booking import WaitingListConfirmed
from contracts.envelope import Envelope

SETTINGS = NotifySettings(service="notify", public_url=PUBLIC_URL)


def emails(recipients):
    return [r.email for r in recipients]


# --- directory -------------------------------------------------------------------------------------
def test_a_registered_family_is_written_to_at_its_registration_address_until_a_guardian_is_known(session):
    feed(session, FamilyRegistered(family_id="f1", commune="ludres", family_name="Roy", email="roy@example.org"))
    assert [(r.email, r.user_id) for r in directory.family_recipients(session, "f1")] == [("roy@example.org", None)]
    feed(session, GuardianAdded(guardian_id="g1", family_id="f1", user_id="u1", changed_at=T0),
         PasswordChanged(user_id="u1", email="new-roy@example.org", changed_at=T0, reason="activation"))
    assert emails(directory.family_recipients(session, "f1")) == ["new-roy@example.org"]


def test_the_first_responsable_keeps_the_registration_address_when_a_second_one_joins(session):
    """The first responsable is known by family.activated (no address) until an event carries theirs:
    a second guardian arriving with an address must not take the family's mail away from them."""
    feed(session, FamilyRegistered(family_id="f2", commune="heillecourt", family_name="Martin",
                                   email="first@example.org"),
         FamilyActivated(family_id="f2", commune="heillecourt", user_id="u-first"))
    envelope = identity(GuardianAdded(guardian_id="g2", family_id="f2", user_id="u-second",
                                      changed_at=T0 + timedelta(days=1)))
    directory.HANDLERS["directory_guardian_added"][1](
        session, envelope.model_copy(update={"data": envelope.data | {"email": "second@example.org"}}))
    assert [(r.email, r.user_id) for r in directory.family_recipients(session, "f2")] == [
        ("first@example.org", "u-first"), ("second@example.org", "u-second")]


def test_a_removed_guardian_gets_nothing_even_if_known_through_the_activation(session):
    martin_family(session)
    feed(session, GuardianRemoved(guardian_id="g-lea", family_id="f-martin", changed_at=T0 + timedelta(days=1)))
    assert emails(directory.family_recipients(session, "f-martin")) == ["paul@example.org"]


def test_an_older_fact_never_overwrites_a_newer_one(session):
    martin_family(session)
    feed(session, GuardianRemoved(guardian_id="g-paul", family_id="f-martin", changed_at=T0 + timedelta(hours=1)))
    # The addition arrives again, late (redelivered, older): Paul stays removed.
    feed(session, GuardianAdded(guardian_id="g-paul", family_id="f-martin", user_id="u-paul", changed_at=T0))
    assert emails(directory.family_recipients(session, "f-martin")) == ["lea@example.org"]
    # A later address change wins; an older one is ignored.
    directory.remember_email(session, "u-lea", "lea@new.example.org", "Léa", T0 + timedelta(days=2))
    directory.remember_email(session, "u-lea", "lea@old.example.org", "Léa", T0 + timedelta(days=1))
    assert emails(directory.family_recipients(session, "f-martin")) == ["lea@new.example.org"]


def test_an_address_carried_by_guardian_added_is_used(session):
    """identity may add `email` to guardian.added.v1: notify then needs no other event."""
    envelope = identity(GuardianAdded(guardian_id="g9", family_id="f9", user_id="u9", changed_at=T0))
    envelope = envelope.model_copy(update={"data": envelope.data | {"email": "direct@example.org"}})
    directory.HANDLERS["directory_guardian_added"][1](session, envelope)
    assert emails(directory.family_recipients(session, "f9")) == ["direct@example.org"]


def test_the_same_address_twice_is_one_recipient(session):
    martin_family(session)
    directory.remember_email(session, "u-paul", "LEA@example.org", "Paul", T0 + timedelta(days=1))
    assert emails(directory.family_recipients(session, "f-martin")) == ["lea@example.org"]


def test_agents_of_the_commune_with_a_known_address(session):
    heillecourt_agent(session)
    feed(session, AgentAssigned(user_id="u-bob", commune="heillecourt", role="admin", assigned_at=T0),
         AgentAssigned(user_id="u-eve", commune="ludres", role="agent", assigned_at=T0),
         PasswordResetRequested(reset_id="r", user_id="u-eve", email="eve@ludres.example.org", link="x",
                                expires_at=T0))
    assert emails(directory.agent_recipients(session, "heillecourt")) == ["anne@mairie.example.org"]
    assert directory.agents_without_address(session, "heillecourt") == ["u-bob"]  # assigned, address unknown
    feed(session, AgentRemoved(user_id="u-anne", commune="heillecourt", removed_at=T0 + timedelta(hours=1)))
    assert directory.agent_recipients(session, "heillecourt") == []


def test_commune_names(session):
    martin_family(session)
    assert directory.commune_name(session, "heillecourt") == "Heillecourt"
    assert directory.commune_name(session, "saint-max") == "Saint-Max"  # not announced yet: the slug in words


# --- preferences -----------------------------------------------------------------------------------
PARENT = Caller(sub="u-lea", role="parent", family_id="f-martin")


def test_parents_see_their_messages_with_the_mandatory_ones_always_on(session):
    items = {i["kind"]: i for i in preferences.read_preferences(session, PARENT)["items"]}
    assert items["payment_received"] == {"kind": "payment_received", "label": "Paiement reçu", "optional": False,
                                         "enabled": True}
    assert items["cart_validated"]["optional"] and items["cart_validated"]["enabled"]
    assert "pending_requests_summary" not in items and "totp_enrolment" not in items  # agents' messages
    agent = {i["kind"] for i in preferences.read_preferences(session, Caller(sub="a", role="agent", commune="x"))["items"]}
    assert agent == {"totp_enrolment", "pending_requests_summary"}


def test_turning_an_optional_message_off_and_on(session):
    state = preferences.write_preferences(session, PARENT, {"items": [{"kind": "cart_validated", "enabled": False},
                                                                      {"kind": "booking_reminder", "enabled": False}]})
    assert {i["kind"] for i in state["items"] if not i["enabled"]} == {"cart_validated", "booking_reminder"}
    assert preferences.turned_off(session, "cart_validated", ["u-lea", "u-paul"]) == {"u-lea"}
    preferences.write_preferences(session, PARENT, {"items": [{"kind": "cart_validated", "enabled": True}]})
    assert preferences.turned_off(session, "cart_validated", ["u-lea"]) == set()
    assert preferences.turned_off(session, "booking_reminder", ["u-lea"]) == {"u-lea"}


@pytest.mark.parametrize("item, words", [
    ({"kind": "payment_failed", "enabled": False}, "toujours envoyé"),
    ({"kind": "pending_requests_summary", "enabled": False}, "inconnu"),   # an agents' message
    ({"kind": "spam", "enabled": True}, "inconnu"),
])
def test_refused_changes_change_nothing(session, item, words):
    with pytest.raises(PreferenceError) as err:
        preferences.write_preferences(session, PARENT, {"items": [{"kind": "cart_validated", "enabled": False}, item]})
    assert err.value.status == 422 and words in err.value.detail
    assert preferences.turned_off(session, "cart_validated", ["u-lea"]) == set()


def test_only_parents_and_agents_have_preferences(session):
    with pytest.raises(PreferenceError) as err:
        preferences.read_preferences(session, Caller(sub="op", role="operator"))
    assert err.value.status == 403


def test_a_parent_who_turned_a_message_off_does_not_get_it_the_other_responsable_does(session):
    martin_family(session)
    preferences.write_preferences(session, PARENT, {"items": [{"kind": "waiting_list_confirmed", "enabled": False}]})
    event = WaitingListConfirmed(booking_id="b", family_id="f-martin", child_id="c-zoe", commune="heillecourt",
                                 service_id="s", prestation_id="p", prestation_label="Cantine", session_date="2026-12-07",
                                 payment_mode="end_of_month", price_ref="r", by="automatic", confirmed_at=T0)
    envelope = Envelope(type=event.EVENT_TYPE, source="booking", data=event.model_dump(mode="json"))
    assert len(handlers.record_notification(session, envelope, SETTINGS)) == 1
    # Payments cannot be turned off: both get them, whatever was chosen.
    preferences.write_preferences(session, PARENT, {"items": [{"kind": "payment_received", "enabled": True}]})
    paid = PaymentSucceeded(payment_id="p", cart_id="k", family_id="f-martin", amount_cents=100, paid_at=T0)
    paid = Envelope(type=paid.EVENT_TYPE, source="billing", data=paid.model_dump(mode="json"))
    assert len(handlers.record_notification(session, paid, SETTINGS)) == 2
    assert handlers.record_notification(session, paid, SETTINGS) == []  # the same event again: nothing more
