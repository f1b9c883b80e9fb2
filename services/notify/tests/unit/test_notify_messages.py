"""Every e-mail about bookings, payments and requests: its recipients, words and links, and the
accessibility of the shared layout (no I/O but a throw-away SQLite file for the directory)."""
import datetime as dt
import re
from types import SimpleNamespace

import pytest

from contracts.billing import CreditIssued, InvoicePublished, PaymentFailed, PaymentSucceeded
from contracts.booking import BookingCancelled, BookingReminderDue, CartLineFact, CartValidated, WaitingListConfirmed
from contracts.envelope import Envelope
from contracts.requests import CategoryCount, PendingRequestsSummarised, RequestStatusChanged

from notify import handlers, messages
from notify.directory import Recipient
from notify.messages import RecipientsUnknown, drafts_for
from notify.settings import NotifySettings
from notify_unit_support import PUBLIC_URL, T0, heillecourt_agent, martin_family

UTC = dt.timezone.utc


def envelope(payload, source) -> Envelope:
    return Envelope(type=payload.EVENT_TYPE, source=source, data=payload.model_dump(mode="json"))


def line(day, status, action="book", label=None):
    return CartLineFact(child_id="c-zoe", prestation_id="p-cantine", service_id="s", commune="heillecourt",
                        session_date=day, action=action, status=status, payment_mode="prepaid", price_ref="r",
                        prestation_label=label)


def cart(*lines, parent="u-lea", state="validated"):
    return CartValidated(cart_id="k1", family_id="f-martin", parent_id=parent, state=state,
                         validated_at=dt.datetime(2026, 12, 1, 10, 0, tzinfo=UTC),
                         hold_expires_at=dt.datetime(2026, 12, 1, 11, 0, tzinfo=UTC), lines=list(lines))


def waiting(by="automatic"):
    return WaitingListConfirmed(booking_id="b1", family_id="f-martin", child_id="c-zoe", commune="heillecourt",
                                service_id="s", prestation_id="p", prestation_label="Cantine (midi)",
                                session_date=dt.date(2026, 12, 7), payment_mode="end_of_month", price_ref="r", by=by,
                                confirmed_at=T0)


def cancelled(by="agent", refund="credit"):
    return BookingCancelled(booking_id="b1", family_id="f-martin", child_id="c-zoe", commune="heillecourt",
                            service_id="s", prestation_id="p", session_date=dt.date(2026, 12, 8),
                            payment_mode="prepaid", price_ref="r", refund=refund, by=by, cancelled_at=T0)


def request_changed(new="acceptee", label="Acceptée", message=None):
    return RequestStatusChanged(
        request_id="r1", reference="D-2026-00042", family_id="f-martin", commune="heillecourt",
        category_code="pickup", category_label="Autorisation de récupération d’un enfant", requested_by="u-lea",
        old_status="en_cours", new_status=new, status_label=label, message=message, changed_by_role="agent",
        changed_at=T0, link=f"{PUBLIC_URL}/demandes/r1")


def summary():
    return PendingRequestsSummarised(
        commune="heillecourt", day=dt.date(2026, 12, 1), pending=5, sent=3, in_progress=2,
        oldest_submitted_at=T0, link=f"{PUBLIC_URL}/agent/demandes",
        by_category=[CategoryCount(code="pickup", label="Autorisation de récupération", count=4),
                     CategoryCount(code="other", label="Autre", count=1)])


EVENTS = {
    "cart_validated": (cart(line(dt.date(2026, 12, 7), "confirmed")), "booking"),
    "waiting_list_confirmed": (waiting(), "booking"),
    "cancellation_processed": (cancelled(), "booking"),
    "booking_reminder": (BookingReminderDue(
        family_id="f-martin", commune="heillecourt", child_ids=["c-zoe"], service_id="s", prestation_id="p-cantine",
        prestation_label="Restauration scolaire", week_first=dt.date(2026, 12, 7), week_last=dt.date(2026, 12, 11),
        deadline=dt.datetime(2026, 12, 3, 11, 0, tzinfo=dt.timezone.utc)), "booking"),
    "payment_received": (PaymentSucceeded(payment_id="pay-1", cart_id="k1", family_id="f-martin", amount_cents=1250,
                                          paid_at=T0), "billing"),
    "payment_failed": (PaymentFailed(payment_id="pay-2", cart_id="k1", family_id="f-martin", reason="refused",
                                     failed_at=T0), "billing"),
    "invoice_published": (InvoicePublished(
        invoice_id="inv-9", number="F-2026-11-0000123", family_id="f-martin", commune="heillecourt",
        total_cents=4280, period_first=dt.date(2026, 11, 1), period_last=dt.date(2026, 11, 30),
        due_date=dt.date(2026, 12, 15)), "billing"),
    "credit_issued": (CreditIssued(credit_id="cr-1", number="A-2026-0007", family_id="f-martin", commune="heillecourt",
                                   amount_cents=350, reason="annulation du 8 décembre"), "billing"),
    "request_status_changed": (request_changed(), "requests"),
    "pending_requests_summary": (summary(), "requests"),
}


@pytest.fixture
def town(session):
    martin_family(session)
    heillecourt_agent(session)
    return session


def drafts(session, name):
    payload, source = EVENTS[name]
    return drafts_for(session, envelope(payload, source), PUBLIC_URL)


# --- recipients ------------------------------------------------------------------------------------
@pytest.mark.parametrize("name", ["waiting_list_confirmed", "cancellation_processed", "booking_reminder",
                                  "payment_received",
                                  "payment_failed", "invoice_published", "credit_issued", "request_status_changed"])
def test_family_messages_go_to_every_responsable(town, name):
    found = drafts(town, name)
    assert [(d.recipient.email, d.recipient.user_id) for d in found] == [("lea@example.org", "u-lea"),
                                                                         ("paul@example.org", "u-paul")]
    assert {(d.commune, d.family_id) for d in found} == {("heillecourt", "f-martin")}
    assert [d.content.text.split("\n")[0] for d in found] == ["Bonjour Léa,", "Bonjour Paul,"]


def test_the_cart_message_goes_to_the_parent_who_validated_it(town):
    [draft] = drafts_for(town, envelope(cart(line(dt.date(2026, 12, 7), "confirmed"), parent="u-paul"), "booking"),
                         PUBLIC_URL)
    assert draft.recipient.email == "paul@example.org"


def test_the_daily_summary_goes_to_the_communes_agents(town):
    [draft] = drafts(town, "pending_requests_summary")
    assert (draft.recipient.email, draft.commune) == ("anne@mairie.example.org", "heillecourt")


def test_an_unknown_family_is_retried_later(session):
    with pytest.raises(RecipientsUnknown):
        drafts(session, "payment_received")


def test_a_parents_own_cancellation_and_a_draft_send_nothing(town):
    assert drafts_for(town, envelope(cancelled(by="parent"), "booking"), PUBLIC_URL) == []
    assert drafts_for(town, envelope(request_changed(new="brouillon", label="Brouillon"), "requests"), PUBLIC_URL) == []


# --- words and links -------------------------------------------------------------------------------
def test_cart_validated_lists_each_line_and_asks_for_payment_when_places_are_held(town):
    payload = cart(line(dt.date(2026, 12, 7), "held"), line(dt.date(2026, 12, 8), "waiting_listed"),
                   line(dt.date(2026, 12, 1), "cancelled", action="cancel"), state="awaiting_payment")
    [draft] = drafts_for(town, envelope(payload, "booking"), PUBLIC_URL)
    c = draft.content
    assert c.subject == "Votre panier attend votre paiement — Heillecourt"
    assert "- Zoé, mardi 1er décembre 2026 : annulation — annulé\n" in c.text
    assert "- Zoé, lundi 7 décembre 2026 : réservation — en attente de paiement\n" in c.text
    assert "- Zoé, mardi 8 décembre 2026 : réservation — sur liste d’attente\n" in c.text
    assert "retenues jusqu’au mardi 1er décembre 2026 à 12 h 00" in c.text
    assert f"\n{PUBLIC_URL}/reservations/panier\n" in c.text
    assert f'href="{PUBLIC_URL}/reservations/panier"' in c.html and "Payer mon panier" in c.html
    assert '<th scope="col"' in c.html and "<caption" in c.html  # a real data table


def test_cart_validated_names_each_lines_prestation(town):
    payload = cart(line(dt.date(2026, 12, 7), "confirmed", label="Repas du midi"),
                   line(dt.date(2026, 12, 8), "confirmed", label="Accueil du soir"))
    [draft] = drafts_for(town, envelope(payload, "booking"), PUBLIC_URL)
    c = draft.content
    assert "- Zoé, Repas du midi, lundi 7 décembre 2026 : réservation — réservé\n" in c.text
    assert "- Zoé, Accueil du soir, mardi 8 décembre 2026 : réservation — réservé\n" in c.text
    assert '<th scope="col" style="text-align:left;padding:6px 8px;border-bottom:2px solid #1e1e1e;">Prestation</th>' in c.html
    assert ">Repas du midi</td>" in c.html and ">Accueil du soir</td>" in c.html


def test_cart_validated_from_an_event_without_labels_has_no_empty_column(town):
    [draft] = drafts(town, "cart_validated")  # lines published before they carried the label
    assert ">Prestation</th>" not in draft.content.html
    assert "- Zoé, lundi 7 décembre 2026 : réservation — réservé\n" in draft.content.text


def test_cart_validated_without_held_places_links_to_the_bookings(town):
    [draft] = drafts(town, "cart_validated")
    assert draft.content.subject == "Votre panier est validé — Heillecourt"
    assert f"Vos réservations : {PUBLIC_URL}/reservations\n" in draft.content.text
    assert "/reservations/panier" not in draft.content.text and "Paiement attendu" not in draft.content.text


def test_waiting_list_confirmed(town):
    c = drafts(town, "waiting_list_confirmed")[0].content
    assert c.subject == "Place obtenue pour Zoé le lundi 7 décembre 2026 — Heillecourt"
    assert "Zoé était sur liste d’attente pour « Cantine (midi) » le lundi 7 décembre 2026" in c.text
    assert f'href="{PUBLIC_URL}/reservations"' in c.html


@pytest.mark.parametrize("refund, words", [
    ("not_invoiced", "ne vous sera pas facturée"), ("refund", "vous sera remboursé"),
    ("credit", "sous forme d’avoir"), ("none", "reste due"),
])
def test_cancellation_processed_says_what_happens_to_the_money(town, refund, words):
    [first, _] = drafts_for(town, envelope(cancelled(refund=refund), "booking"), PUBLIC_URL)
    assert first.content.subject == "Réservation du mardi 8 décembre 2026 annulée pour Zoé — Heillecourt"
    assert "La mairie de Heillecourt a annulé la réservation de Zoé du mardi 8 décembre 2026." in first.content.text
    assert words in first.content.text and words in first.content.html


def test_payment_received_in_euros(town):
    c = drafts(town, "payment_received")[0].content
    assert c.subject == "Paiement reçu : 12,50 € — Heillecourt"  # one line of plain spaces
    assert "Votre paiement de 12,50\u00a0€ a été reçu le vendredi 20 novembre 2026 à 10 h 00" in c.text
    assert "pay-1" in c.text


def test_a_cart_covered_by_credits_says_nothing_was_paid_online(town):
    payload = PaymentSucceeded(payment_id="credit:rc-7", cart_id="k1", family_id="f-martin", amount_cents=0,
                               paid_at=T0)
    c = drafts_for(town, envelope(payload, "billing"), PUBLIC_URL)[0].content
    assert c.subject == "Panier réglé avec vos avoirs — Heillecourt"
    assert "Vos avoirs couvraient le montant de votre panier : rien n’a été payé en ligne." in c.text
    assert "0,00" not in c.text and "credit:rc-7" not in c.text


@pytest.mark.parametrize("reason, words", [("refused", "refusé par votre banque"), ("cancelled", "abandonné"),
                                           ("expired", "délai pour payer est dépassé"), ("error", "erreur technique")])
def test_payment_failed_explains_and_links_to_the_cart(town, reason, words):
    payload = PaymentFailed(payment_id="p", cart_id="k", family_id="f-martin", reason=reason, failed_at=T0)
    c = drafts_for(town, envelope(payload, "billing"), PUBLIC_URL)[0].content
    assert words in c.text and "votre panier est de nouveau ouvert" in c.text
    assert "tout de même débité, son montant vous sera rendu sous forme d’avoir" in c.text  # billing keeps it
    assert f'href="{PUBLIC_URL}/reservations/panier"' in c.html


def test_request_status_changed_quotes_the_agents_message_escaped(town):
    payload = request_changed(new="refusee", label="Refusée", message="Pièce manquante <b>justificatif</b>\nMerci")
    c = drafts_for(town, envelope(payload, "requests"), PUBLIC_URL)[0].content
    assert c.subject == "Demande D-2026-00042 : Refusée — Heillecourt"
    assert "Votre demande D-2026-00042 (« Autorisation de récupération d’un enfant ») a été refusée" in c.text
    assert "Message de la mairie :\nPièce manquante <b>justificatif</b>\nMerci" in c.text
    assert "Pièce manquante &lt;b&gt;justificatif&lt;/b&gt;" in c.html
    assert f'href="{PUBLIC_URL}/demandes/r1"' in c.html


def test_pending_requests_summary_counts_by_category(town):
    c = drafts(town, "pending_requests_summary")[0].content
    assert c.subject == "5 demandes en attente — Heillecourt, mardi 1er décembre 2026"
    assert "3 à prendre en charge et 2 en cours de traitement" in c.text
    assert "- Autorisation de récupération : 4\n" in c.text
    assert f'href="{PUBLIC_URL}/agent/demandes"' in c.html


def test_invoice_published(town):
    c = drafts(town, "invoice_published")[0].content
    assert c.subject == "Nouvelle facture F-2026-11-0000123 : 42,80 € — Heillecourt"
    assert "période du dimanche 1er novembre 2026 au lundi 30 novembre 2026" in c.text
    assert "à régler avant le mardi 15 décembre 2026" in c.text
    assert f'href="{PUBLIC_URL}/factures/inv-9"' in c.html and f"\n{PUBLIC_URL}/factures/inv-9\n" in c.text


def test_credit_issued(town):
    c = drafts(town, "credit_issued")[0].content
    assert c.subject == "Avoir de 3,50 € en votre faveur — Heillecourt"
    assert "l’avoir A-2026-0007 de 3,50\u00a0€ en votre faveur : annulation du 8 décembre" in c.text
    assert f'href="{PUBLIC_URL}/factures"' in c.html


# --- the template waiting for its event's contract (booking reminder) -------------------------------
def render_pending(template, event, **context):
    return messages.render_kind(template, None, event, Recipient("lea@example.org", "u-lea", "Léa"), PUBLIC_URL,
                                "Heillecourt", context)


def test_booking_reminder_template():
    c = render_pending("booking_reminder", SimpleNamespace(
        prestation_label="Accueil périscolaire", week_first=dt.date(2026, 12, 7), week_last=dt.date(2026, 12, 11),
        deadline=dt.datetime(2026, 12, 3, 11, 0, tzinfo=UTC)), children=["Zoé", "Léo", "Lina"])
    assert c.subject == "Rappel : pas encore de réservation pour la semaine du lundi 7 décembre 2026 — Heillecourt"
    assert "aucune réservation n’est encore faite pour Zoé, Léo et Lina la semaine du lundi 7 décembre 2026" in c.text
    assert "jusqu’au jeudi 3 décembre 2026 à 12 h 00 (heure de Paris)" in c.text
    assert f"{PUBLIC_URL}/famille/notifications" in c.text  # optional: says how to turn it off


def test_booking_reminder_names_the_children_of_the_event(town):
    draft = drafts(town, "booking_reminder")[0]
    assert "aucune réservation n’est encore faite pour Zoé la semaine du lundi 7 décembre 2026" in draft.content.text
    assert "jusqu’au jeudi 3 décembre 2026 à 12 h 00" in draft.content.text


# --- the shared layout ---------------------------------------------------------------------------
def _contrast(a: str, b: str) -> float:
    def luminance(hex_colour):
        channels = [int(hex_colour[i:i + 2], 16) / 255 for i in (1, 3, 5)]
        lin = [c / 12.92 if c <= 0.03928 else ((c + 0.055) / 1.055) ** 2.4 for c in channels]
        return 0.2126 * lin[0] + 0.7152 * lin[1] + 0.0722 * lin[2]
    hi, lo = sorted((luminance(a), luminance(b)), reverse=True)
    return (hi + 0.05) / (lo + 0.05)


@pytest.mark.parametrize("name", sorted(EVENTS))
def test_every_message_uses_the_accessible_layout(town, name):
    draft = drafts(town, name)[0]
    html, text = draft.content.html, draft.content.text
    assert '<html lang="fr"' in html
    assert re.search(r"<title>[^<]+</title>", html) and re.search(r"<h1[^>]*>[^<]+</h1>", html)
    assert all(' alt="' in tag for tag in re.findall(r"<img\b[^>]*>", html))
    assert "Espace Famille" in html and "— Heillecourt" in html  # the commune's name in the header
    # Every text colour against the white card, except the white header text on its blue band.
    for colour in set(re.findall(r"(?<![-\w])color:(#[0-9a-fA-F]{6})", html)):
        background = "#000091" if colour.lower() == "#ffffff" else "#ffffff"
        assert _contrast(colour, background) >= 4.5, (colour, background)
    # Layout tables say so; every link is absolute and points to the platform.
    assert 'role="presentation"' in html
    assert all(href.startswith(PUBLIC_URL) for href in re.findall(r'href="([^"]+)"', html))
    assert "Merci de ne pas y répondre" in text and "<" not in text
    optional = name in messages.OPTIONAL
    assert (f"{PUBLIC_URL}/famille/notifications" in text) is optional


@pytest.mark.parametrize("name", sorted(EVENTS))
def test_recording_an_event_twice_queues_its_emails_once(town, name):
    settings = NotifySettings(service="notify", public_url=PUBLIC_URL)
    payload, source = EVENTS[name]
    event = envelope(payload, source)
    first = handlers.record_notification(town, event, settings)
    assert len(first) == len(drafts(town, name)) >= 1
    assert handlers.record_notification(town, event, settings) == []  # e.g. a replayed dead letter
