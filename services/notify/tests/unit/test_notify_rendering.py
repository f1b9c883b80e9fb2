"""The e-mails' words, parts and headers (no I/O)."""
import email
import email.policy
from datetime import datetime, timezone

import pytest

from contracts.envelope import Envelope
from contracts.identity import (ActivationIssued, GuardianInvited, PasswordChanged, PasswordResetRequested,
                               TotpEnrolmentRequested)
from notify.mail import build_message, message_id_for
from notify.messages import KINDS, drafts_for, french_datetime

PUBLIC_URL = "http://127.0.0.1:8000"
LINK = "http://127.0.0.1:8000/activation/tok3n?a=1&b=2"


def envelope(payload) -> Envelope:
    return Envelope(type=payload.EVENT_TYPE, source="identity", data=payload.model_dump(mode="json"))


@pytest.fixture
def draft_for(session):
    """The one e-mail answering an identity event (they name their recipient)."""
    def draft(env: Envelope, public_url: str):
        [only] = drafts_for(session, env, public_url)
        return only
    return draft


def activation(**overrides):
    fields = dict(activation_id="a1", family_id="f1", commune="heillecourt", commune_name="Heillecourt",
                  family_name="Martin", email="parent@example.org", link=LINK,
                  expires_at=datetime(2026, 11, 28, 9, 15, tzinfo=timezone.utc), existing_account=False)
    return ActivationIssued(**(fields | overrides))


ALL_EVENTS = [
    activation(),
    GuardianInvited(invitation_id="i1", family_id="f1", family_name="Martin", email="second@example.org",
                    inviter_name="Paul Martin", link=LINK, expires_at=datetime(2026, 1, 5, 23, 30, tzinfo=timezone.utc)),
    PasswordResetRequested(reset_id="r1", user_id="u1", email="parent@example.org", given_name="Léa", link=LINK,
                           expires_at=datetime(2026, 3, 29, 1, 30, tzinfo=timezone.utc)),
    PasswordChanged(user_id="u1", email="parent@example.org", given_name="Léa", reason="reset",
                    changed_at=datetime(2026, 7, 1, 12, 0, tzinfo=timezone.utc)),
    TotpEnrolmentRequested(enrolment_id="e1", user_id="u2", email="agent@mairie.example.org", given_name="Anne",
                           link="http://127.0.0.1:8000/oidc/login/totp/enrol/t0k3n",
                           expires_at=datetime(2026, 11, 29, 8, 0, tzinfo=timezone.utc)),
]


# --- dates -------------------------------------------------------------------------------------
@pytest.mark.parametrize("utc, expected", [
    (datetime(2026, 11, 28, 9, 15, tzinfo=timezone.utc), "samedi 28 novembre 2026 à 10 h 15"),   # winter: UTC+1
    (datetime(2026, 3, 29, 1, 30, tzinfo=timezone.utc), "dimanche 29 mars 2026 à 3 h 30"),       # DST began at 01:00 UTC
    (datetime(2026, 7, 1, 12, 0, tzinfo=timezone.utc), "mercredi 1er juillet 2026 à 14 h 00"),   # summer: UTC+2, "1er"
    (datetime(2026, 12, 31, 23, 30), "vendredi 1er janvier 2027 à 0 h 30"),                     # naive = UTC
])
def test_dates_in_french_paris_time(utc, expected):
    assert french_datetime(utc) == expected


# --- activation ----------------------------------------------------------------------------------
def test_activation_subject_and_text(draft_for):
    draft = draft_for(envelope(activation()), PUBLIC_URL)
    assert draft.template == "activation"
    assert draft.recipient.email == "parent@example.org"
    assert draft.commune == "heillecourt"
    assert draft.content.subject == "Activez votre Espace Famille — Heillecourt"
    text = draft.content.text
    assert "Les services de la commune de Heillecourt ont inscrit la famille Martin" in text
    assert LINK in text  # the raw link, unescaped, on its own line
    assert f"\n{LINK}\n" in text
    assert "valable jusqu’au samedi 28 novembre 2026 à 10 h 15 (heure de Paris)" in text
    assert "Vous n’attendiez pas ce message ?" in text
    assert "<" not in text  # written as text, not stripped HTML


def test_activation_html_is_accessible_and_escaped(draft_for):
    html = draft_for(envelope(activation(family_name="Martin & <Fils>")), PUBLIC_URL).content.html
    assert '<html lang="fr"' in html
    assert "<title>Activez votre Espace Famille</title>" in html
    assert 'href="http://127.0.0.1:8000/activation/tok3n?a=1&amp;b=2"' in html
    assert "Martin &amp; &lt;Fils&gt;" in html and "<Fils>" not in html
    assert 'role="presentation"' in html  # layout tables are not data tables for screen readers
    assert "samedi 28 novembre 2026 à 10 h 15" in html
    assert "Vous n’attendiez pas ce message" in html


def test_activation_for_an_existing_account_asks_to_sign_in(draft_for):
    draft = draft_for(envelope(activation(existing_account=True)), PUBLIC_URL)
    assert "connectez-vous avec vos identifiants habituels" in draft.content.text
    assert "associer la commune de Heillecourt" in draft.content.text
    assert "choisirez votre mot de passe" not in draft.content.text
    assert "connectez-vous avec vos identifiants habituels" in draft.content.html
    assert "Me connecter et associer la commune" in draft.content.html


def test_resent_activation_says_the_old_link_is_dead(draft_for):
    assert "l’ancien lien ne fonctionne plus" in draft_for(envelope(activation(resend=True)), PUBLIC_URL).content.text
    assert "l’ancien lien ne fonctionne plus" not in draft_for(envelope(activation()), PUBLIC_URL).content.text


# --- every kind ----------------------------------------------------------------------------------
def test_every_identity_event_answered_has_a_kind():
    assert {t for t, k in KINDS.items() if k.source == "identity"} == {e.EVENT_TYPE for e in ALL_EVENTS}


@pytest.mark.parametrize("event", ALL_EVENTS, ids=lambda e: e.EVENT_TYPE)
def test_every_email_has_french_subject_text_and_html(event, draft_for):
    content = draft_for(envelope(event), PUBLIC_URL).content
    assert content.subject and "\n" not in content.subject
    assert "Espace Famille" in content.subject
    assert "heure de Paris" in content.text and "heure de Paris" in content.html
    assert "Merci de ne pas y répondre" in content.text
    assert '<html lang="fr"' in content.html
    if hasattr(event, "link"):
        assert event.link in content.text
        assert event.link.replace("&", "&amp;") in content.html


def test_password_changed_is_a_security_notice(draft_for):
    content = draft_for(envelope(ALL_EVENTS[3]), PUBLIC_URL).content
    assert content.subject == "Votre mot de passe Espace Famille a été modifié"
    assert "Bonjour Léa," in content.text
    assert "le mercredi 1er juillet 2026 à 14 h 00 (heure de Paris), à la suite d’une demande de réinitialisation" \
        in content.text
    assert "Ce n’était pas vous ?" in content.text
    assert PUBLIC_URL in content.text


def test_totp_enrolment_link_goes_to_the_agent_with_a_warning(draft_for):
    draft = draft_for(envelope(ALL_EVENTS[4]), PUBLIC_URL)
    assert (draft.template, draft.recipient.email, draft.commune) == ("totp_enrolment", "agent@mairie.example.org", None)
    content = draft.content
    assert content.subject == "Activez la double authentification de votre compte Espace Famille"
    assert "Bonjour Anne," in content.text
    assert "\nhttp://127.0.0.1:8000/oidc/login/totp/enrol/t0k3n\n" in content.text
    assert "valable jusqu’au dimanche 29 novembre 2026 à 9 h 00 (heure de Paris)" in content.text
    assert "Vous n’avez pas essayé de vous connecter ?" in content.text
    assert 'href="http://127.0.0.1:8000/oidc/login/totp/enrol/t0k3n"' in content.html
    assert "Configurer mon application d’authentification" in content.html


def test_guardian_invitation_names_the_inviter(draft_for):
    content = draft_for(envelope(ALL_EVENTS[1]), PUBLIC_URL).content
    assert content.subject == "Paul Martin vous invite sur l’Espace Famille de la famille Martin"
    assert "mardi 6 janvier 2026 à 0 h 30" in content.text


def test_an_unanswered_event_type_is_refused(draft_for):
    unknown = Envelope(type="family.registered.v1", source="identity", data={})
    with pytest.raises(KeyError):
        draft_for(unknown, PUBLIC_URL)


# --- MIME ----------------------------------------------------------------------------------------
def test_message_is_multipart_alternative_with_the_expected_headers(draft_for):
    content = draft_for(envelope(activation()), PUBLIC_URL).content
    mid = message_id_for("c1113f40-add1-4474-9be9-fdf6ce011d2f", "Espace Famille <no-reply@espace-famille.localhost>")
    assert mid == "<c1113f40add144749be9fdf6ce011d2f@espace-famille.localhost>"
    msg = build_message(sender="Espace Famille <no-reply@espace-famille.localhost>", recipient="parent@example.org",
                        subject=content.subject, text=content.text, html=content.html, message_id=mid,
                        date=datetime(2026, 11, 26, 8, 0, tzinfo=timezone.utc))
    parsed = email.message_from_bytes(msg.as_bytes(), policy=email.policy.default)
    assert parsed.get_content_type() == "multipart/alternative"
    assert parsed["Subject"] == "Activez votre Espace Famille — Heillecourt"
    assert parsed["From"].addresses[0].display_name == "Espace Famille"
    assert parsed["From"].addresses[0].addr_spec == "no-reply@espace-famille.localhost"
    assert parsed["Message-ID"] == mid
    assert parsed["Content-Language"] == "fr"
    assert parsed["Auto-Submitted"] == "auto-generated"
    assert parsed["Date"].datetime == datetime(2026, 11, 26, 8, 0, tzinfo=timezone.utc)
    text, html = [part for part in parsed.iter_parts()]
    assert text.get_content_type() == "text/plain" and html.get_content_type() == "text/html"
    assert text.get_content_charset() == "utf-8"
    assert text.get_content() == content.text
    assert html.get_content() == content.html
    assert all(len(line) <= 998 for line in msg.as_bytes(policy=email.policy.SMTP).split(b"\r\n"))  # RFC 5322
