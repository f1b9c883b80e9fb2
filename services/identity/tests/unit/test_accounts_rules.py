"""Rules of activation links and of what people type (no I/O)."""
import hashlib
from datetime import date, datetime, timedelta, timezone

import pytest

from identity import links, profile_rules
from identity.errors import InvalidInput

NOW = datetime(2026, 9, 1, 8, 0, tzinfo=timezone.utc)
TODAY = NOW.date()


def test_tokens_are_long_random_and_only_their_hash_is_kept():
    token, token_hash = links.new_token()
    other, _ = links.new_token()
    assert token != other
    assert len(token) >= 43  # 256 bits in URL-safe base64
    assert token_hash == hashlib.sha256(token.encode()).hexdigest() == links.hash_token(token)


@pytest.mark.parametrize("expires, used, superseded, state", [
    (NOW + timedelta(seconds=1), None, None, "valid"),
    (NOW, None, None, "expired"),
    (NOW - timedelta(hours=1), None, None, "expired"),
    (NOW + timedelta(hours=1), None, NOW, "superseded"),
    (NOW - timedelta(hours=1), None, NOW, "superseded"),
    (NOW + timedelta(hours=1), NOW, None, "used"),
    (NOW - timedelta(hours=1), NOW, NOW, "used"),
])
def test_link_state(expires, used, superseded, state):
    assert links.link_state(NOW, expires, used, superseded) == state


def test_expiry_and_url():
    assert links.expiry(NOW, 48) == NOW + timedelta(hours=48)
    assert links.link_url("http://127.0.0.1:8000/", "activation", "abc") == "http://127.0.0.1:8000/activation/abc"


def test_every_dead_state_has_a_french_message():
    for messages in (links.DEAD_LINK_MESSAGES, links.INVITATION_DEAD_LINK_MESSAGES):
        assert set(messages) == {"expired", "used", "superseded"}


@pytest.mark.parametrize("raw, clean", [
    ("0612345678", "06 12 34 56 78"), ("06 12 34 56 78", "06 12 34 56 78"), ("06.12.34.56.78", "06 12 34 56 78"),
    ("06-12-34-56-78", "06 12 34 56 78"), ("+33 6 12 34 56 78", "06 12 34 56 78"),
    ("+33 (0)6 12 34 56 78", "06 12 34 56 78"), ("0033612345678", "06 12 34 56 78"), ("03 83 55 55 55", "03 83 55 55 55"),
])
def test_french_phone_formats(raw, clean):
    assert profile_rules.normalise_phone(raw) == clean


@pytest.mark.parametrize("raw", ["12", "06 12 34", "abcdefghij", "+33 6 12 34 56 78 90", "00 00 00 00 00"])
def test_invalid_phones(raw):
    with pytest.raises(ValueError, match="numéro de téléphone valide"):
        profile_rules.normalise_phone(raw)


def test_dates():
    assert profile_rules.parse_past_date("2017-03-02", TODAY) == date(2017, 3, 2)
    assert profile_rules.parse_past_date("02/03/2017", TODAY) == date(2017, 3, 2)
    assert profile_rules.parse_past_date("2026-09-01", TODAY) == TODAY
    with pytest.raises(ValueError, match="futur"):
        profile_rules.parse_past_date("2026-09-02", TODAY)
    with pytest.raises(ValueError, match="JJ/MM/AAAA"):
        profile_rules.parse_past_date("31/02/2017", TODAY)
    with pytest.raises(ValueError, match="année"):
        profile_rules.parse_past_date("1850-01-01", TODAY)


PROFILE = {"family_name": "Martin", "given_name": "Claire", "birth_date": "1985-04-12", "street": "3 rue des Lilas",
           "postcode": "54 180", "city": "Heillecourt", "email": "Claire@Example.org", "phone": "0612345678"}


def test_profile_is_cleaned():
    clean = profile_rules.check_profile(PROFILE, "claire@example.org", TODAY)
    assert clean == {"family_name": "Martin", "given_name": "Claire", "birth_date": "1985-04-12",
                     "street": "3 rue des Lilas", "postcode": "54180", "city": "Heillecourt",
                     "email": "claire@example.org", "phone": "06 12 34 56 78"}


def test_profile_email_must_stay_the_login():
    with pytest.raises(InvalidInput) as exc:
        profile_rules.check_profile({**PROFILE, "email": "autre@example.org"}, "claire@example.org", TODAY)
    assert list(exc.value.errors) == ["email"] and "claire@example.org" in exc.value.errors["email"]


def test_profile_errors_are_collected_per_field():
    with pytest.raises(InvalidInput) as exc:
        profile_rules.check_profile({"postcode": "ABCDE", "email": "x@", "given_name": "x" * 101}, "a@b.fr", TODAY)
    errors = exc.value.errors
    assert errors["postcode"] == "Le code postal comporte 5 chiffres, par exemple 54180."
    assert "adresse e-mail valide" in errors["email"]
    assert errors["given_name"] == "Ce champ ne peut pas dépasser 100 caractères."
    assert errors["family_name"] == errors["street"] == errors["phone"] == "Ce champ est obligatoire."


def test_child_update_checks_only_given_fields_and_keeps_required_ones():
    assert profile_rules.check_child({"class_name": "CM1"}, TODAY, creating=False) == {"class_name": "CM1"}
    with pytest.raises(InvalidInput) as exc:
        profile_rules.check_child({"given_name": " "}, TODAY, creating=False)
    assert exc.value.errors == {"given_name": "Ce champ est obligatoire."}


def test_pickup_authorisations():
    clean = profile_rules.check_child({"given_name": "Léa", "family_name": "Martin", "birth_date": "2017-01-01",
                                       "pickup_authorisations": [{"name": "Jeanne", "phone": "0611223344",
                                                                  "relation": "Grand-mère"}]}, TODAY, creating=True)
    assert clean["pickup_authorisations"] == [{"name": "Jeanne", "phone": "06 11 22 33 44", "relation": "Grand-mère"}]
    with pytest.raises(InvalidInput) as exc:
        profile_rules.check_child({"pickup_authorisations": [{"name": "A", "phone": "1", "relation": ""}]}, TODAY,
                                  creating=False)
    assert set(exc.value.errors) == {"pickup_authorisations.0.phone", "pickup_authorisations.0.relation"}


def test_registration_lowercases_the_login():
    assert profile_rules.check_registration({"family_name": " Dupont ", "email": " Marie.Dupont@Example.ORG "}) == (
        "Dupont", "marie.dupont@example.org")


def test_address():
    assert profile_rules.check_address({"street": "1 rue", "postcode": "54180", "city": "Ludres"}) == {
        "street": "1 rue", "postcode": "54180", "city": "Ludres"}
    with pytest.raises(InvalidInput) as exc:
        profile_rules.check_address({"street": "1 rue", "postcode": "5418"})
    assert set(exc.value.errors) == {"postcode", "city"}
