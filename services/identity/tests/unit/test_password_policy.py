"""Password rules (no I/O besides reading the shipped list)."""
import pytest

from identity import passwords
from identity.passwords import (CONTAINS_EMAIL, TOO_COMMON, TOO_LONG, TOO_REPETITIVE, TOO_SHORT, check_policy,
                                common_passwords)


def test_a_long_passphrase_without_composition_rules_is_accepted():
    assert check_policy("un cheval bleu dans la prairie") == []
    assert check_policy("tout en minuscules sans chiffres") == []


@pytest.mark.parametrize("password", ["", "court", "onze-caract"])
def test_fewer_than_12_characters_is_refused(password):
    assert TOO_SHORT in check_policy(password)


def test_exactly_12_and_256_characters_are_accepted_257_is_not():
    assert check_policy("le chat dort") == []
    assert check_policy("le chat dort" * 21 + " fin") == []  # 256
    assert check_policy("x" + "le chat dort" * 21 + " fin") == [TOO_LONG]


def test_length_counts_characters_not_bytes():
    assert check_policy("éléphantéété") == []  # 12 characters, 24 bytes


def test_shipped_list_is_large_and_used_case_insensitively():
    assert len(common_passwords()) >= 10_000
    assert TOO_COMMON in check_policy("AZERTYUIOP12")
    assert TOO_COMMON in check_policy("qwertyuiop123")
    assert TOO_COMMON in check_policy("1234567890123")  # digit run
    assert TOO_COMMON in check_policy("AZERTYUIOPQSDF")  # keyboard row


def test_common_password_with_digits_or_symbols_appended_is_refused():
    assert TOO_COMMON in check_policy("motdepasse2026!")
    assert TOO_COMMON in check_policy("Soleil123456789")


def test_repetitive_password_is_refused():
    assert TOO_REPETITIVE in check_policy("abababababababab")


def test_password_containing_the_email_local_part_is_refused():
    assert CONTAINS_EMAIL in check_policy("jean.dupont le meilleur", "Jean.Dupont@example.org")
    assert check_policy("jean.dupont le meilleur", "marie@example.org") == []
    # A very short local part would forbid too much: not checked.
    assert check_policy("une phrase avec la lettre a", "a@example.org") == []


def test_several_reasons_are_all_given():
    errors = check_policy("jean", "jean@example.org")
    assert TOO_SHORT in errors and CONTAINS_EMAIL in errors


def test_messages_are_french():
    assert "caractères" in TOO_SHORT and "e-mail" in CONTAINS_EMAIL


def test_hash_uses_the_tuned_argon2id_parameters_and_verifies():
    hashed = passwords.hash_password("une loutre range ses chaussettes")
    assert hashed.startswith("$argon2id$") and "m=47104,t=1,p=1" in hashed
    assert passwords.verify_password(hashed, "une loutre range ses chaussettes")
    assert not passwords.verify_password(hashed, "une loutre range ses chaussons")
    assert not passwords.verify_password(None, "anything at all")
    assert not passwords.verify_password("not-a-hash", "anything at all")
