"""Categories' forms: the agent's field definitions and the parent's answers."""
import pytest

from demandes.domain import effects
from demandes.domain.forms import FormError, check_answers, check_fields

FIELDS = check_fields([
    {"key": "child", "label": "Enfant", "type": "child", "required": True},
    {"key": "day", "label": "Jour", "type": "date", "required": True},
    {"key": "reason", "label": "Motif", "type": "choice", "required": False, "options": ["Maladie", "Autre"]},
    {"key": "qf", "label": "Quotient", "type": "number", "required": False},
    {"key": "cp", "label": "Code postal", "type": "postcode", "required": False},
    {"key": "note", "label": "Note", "type": "textarea", "required": False, "max_length": 20},
    {"key": "ok", "label": "J'atteste", "type": "checkbox", "required": True},
])


def test_definitions_are_checked():
    with pytest.raises(FormError) as err:
        check_fields([{"key": "A b", "label": "x", "type": "text"}, {"key": "a", "label": "", "type": "text"},
                      {"key": "c", "label": "C", "type": "dropdown"},
                      {"key": "d", "label": "D", "type": "choice", "options": ["x", "x"]},
                      {"key": "e", "label": "E", "type": "text", "max_length": 9999}])
    assert set(err.value.errors) == {f"fields[{i}]" for i in range(5)}
    with pytest.raises(FormError):
        check_fields([{"key": "a", "label": "A", "type": "text"}] * 2)
    with pytest.raises(FormError):
        check_fields([{"key": f"k{i}", "label": "K", "type": "text"} for i in range(31)])


def test_a_draft_may_be_partial_but_typed():
    assert check_answers(FIELDS, {"day": "2026-12-07"}, {"c1"}, complete=False) == {"day": "2026-12-07"}
    with pytest.raises(FormError) as err:
        check_answers(FIELDS, {"day": "07/12/2026", "child": "c2", "reason": "Grippe", "qf": -1, "cp": "5418",
                               "note": "x" * 21, "ok": "oui", "unknown": 1}, {"c1"}, complete=False)
    assert set(err.value.errors) == {"day", "child", "reason", "qf", "cp", "note", "ok", "unknown"}
    assert "enfant" in err.value.errors["child"]


def test_submission_needs_required_fields():
    with pytest.raises(FormError) as err:
        check_answers(FIELDS, {"ok": False}, {"c1"}, complete=True)
    assert set(err.value.errors) == {"child", "day", "ok"}
    clean = check_answers(FIELDS, {"child": "c1", "day": "2026-12-07", "cp": "54 180", "qf": 742, "ok": True},
                          {"c1"}, complete=True)
    assert clean == {"child": "c1", "day": "2026-12-07", "cp": "54180", "qf": 742, "ok": True}


def test_text_refuses_control_characters():
    fields = check_fields([{"key": "t", "label": "T", "type": "text"}])
    with pytest.raises(FormError):
        check_answers(fields, {"t": "a\x00b"}, set(), complete=False)
    with pytest.raises(FormError):
        check_answers(fields, {"t": "ligne\nautre"}, set(), complete=False)


def test_effects_need_their_fields():
    address = check_fields([{"key": "street", "label": "Rue", "type": "text", "required": True},
                            {"key": "postcode", "label": "CP", "type": "postcode", "required": True},
                            {"key": "city", "label": "Ville", "type": "text", "required": True}])
    assert effects.check_effect("address_change", address) == "address_change"
    with pytest.raises(FormError) as err:
        effects.check_effect("alternate_address", address)
    assert "child (child)" in err.value.errors["effect"]
    with pytest.raises(FormError):
        effects.check_effect("teleport", address)
    assert effects.effect_facts("alternate_address", {"child": "c1", "street": "s", "postcode": "p", "city": "c"}) == {
        "street": "s", "postcode": "p", "city": "c", "child_id": "c1"}
    assert effects.effect_facts(None, {}) is None


def test_absence_dates_in_order_and_bounded():
    effects.check_submission("absence_justification", {"first_day": "2026-11-20", "last_day": "2026-11-20"})
    with pytest.raises(FormError):
        effects.check_submission("absence_justification", {"first_day": "2026-11-21", "last_day": "2026-11-20"})
    with pytest.raises(FormError):
        effects.check_submission("absence_justification", {"first_day": "2026-01-01", "last_day": "2026-06-01"})


def test_addresses_fit_what_identity_stores():
    with pytest.raises(FormError) as err:
        effects.check_submission("address_change", {"street": "x" * 201, "postcode": "54180", "city": "y" * 101})
    assert set(err.value.errors) == {"street", "city"}
    effects.check_submission("alternate_address", {"child": "c", "street": "x" * 200, "postcode": "54180", "city": "y"})
