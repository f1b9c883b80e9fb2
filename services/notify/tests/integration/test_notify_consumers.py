"""Every consumer of booking's, billing's and requests' events, through the real RabbitMQ and
PostgreSQL: each event delivered twice makes exactly one e-mail per recipient, addressed from
the directory notify built out of identity's events."""
import datetime as dt

import pytest
import sqlalchemy as sa

from contracts.billing import CreditIssued, InvoicePublished, PaymentFailed, PaymentSucceeded
from contracts.booking import BookingCancelled, BookingReminderDue, CartLineFact, CartValidated, WaitingListConfirmed
from contracts.identity import (ActivationIssued, AgentAssigned, ChildAdded, FamilyActivated, FamilyRegistered,
                               GuardianAdded, PasswordChanged, TotpEnrolmentRequested)
from contracts.requests import CategoryCount, PendingRequestsSummarised, RequestStatusChanged
from servicekit.testing import wait_until
from servicekit.tokens import Caller

from notify import messages, preferences
from notify.models import agents, children, family_guardians, user_emails
from notify_test_support import SmtpServer, envelope_of, publish, rows

pytestmark = pytest.mark.integration

T0 = dt.datetime(2026, 11, 20, 9, 0, tzinfo=dt.timezone.utc)
URL = "http://127.0.0.1:8000"


def identity_facts():
    return [
        FamilyRegistered(family_id="f1", commune="heillecourt", family_name="Martin", email="lea@example.org"),
        ActivationIssued(activation_id="a1", family_id="f1", commune="heillecourt", commune_name="Heillecourt",
                         family_name="Martin", email="lea@example.org", link=f"{URL}/activation/x",
                         expires_at=T0, existing_account=False),
        PasswordChanged(user_id="u-lea", email="lea@example.org", given_name="Léa", changed_at=T0, reason="activation"),
        FamilyActivated(family_id="f1", commune="heillecourt", user_id="u-lea"),
        GuardianAdded(guardian_id="g-lea", family_id="f1", user_id="u-lea", changed_at=T0),
        PasswordChanged(user_id="u-paul", email="paul@example.org", given_name="Paul", changed_at=T0,
                        reason="activation"),
        GuardianAdded(guardian_id="g-paul", family_id="f1", user_id="u-paul", changed_at=T0),
        ChildAdded(child_id="c1", family_id="f1", given_name="Zoé", family_name="Martin", birth_date="2019-05-04",
                   changed_at=T0),
        AgentAssigned(user_id="u-anne", commune="heillecourt", role="agent", assigned_at=T0),
        TotpEnrolmentRequested(enrolment_id="e1", user_id="u-anne", email="anne@mairie.example.org",
                               link=f"{URL}/t", expires_at=T0),
    ]


def platform_events():
    day = dt.date(2026, 12, 7)
    slot = dict(family_id="f1", child_id="c1", commune="heillecourt", service_id="s", prestation_id="p",
                session_date=day, price_ref="r")
    return [
        (CartValidated(cart_id="k1", family_id="f1", parent_id="u-lea", state="validated", validated_at=T0, lines=[
            CartLineFact(child_id="c1", prestation_id="p", service_id="s", commune="heillecourt", session_date=day,
                         action="book", status="confirmed", payment_mode="end_of_month", price_ref="r")]), "booking"),
        (WaitingListConfirmed(booking_id="b1", prestation_label="Cantine", payment_mode="end_of_month",
                              by="automatic", confirmed_at=T0, **slot), "booking"),
        (BookingCancelled(booking_id="b2", payment_mode="prepaid", refund="credit", by="agent", cancelled_at=T0,
                          **slot), "booking"),
        (BookingCancelled(booking_id="b3", payment_mode="prepaid", refund="credit", by="parent", cancelled_at=T0,
                          **slot), "booking"),  # in the cart's e-mail already: nothing
        (BookingReminderDue(family_id="f1", commune="heillecourt", child_ids=["c1"], service_id="s", prestation_id="p",
                            prestation_label="Cantine", week_first=day, week_last=dt.date(2026, 12, 11),
                            deadline=T0), "booking"),
        (PaymentSucceeded(payment_id="p1", cart_id="k1", family_id="f1", amount_cents=990, paid_at=T0), "billing"),
        (PaymentFailed(payment_id="p2", cart_id="k2", family_id="f1", reason="expired", failed_at=T0), "billing"),
        (InvoicePublished(invoice_id="i1", number="F-2026-11-0000001", family_id="f1", commune="heillecourt",
                          total_cents=1200, period_first=dt.date(2026, 11, 1), period_last=dt.date(2026, 11, 30),
                          due_date=dt.date(2026, 12, 15)), "billing"),
        (CreditIssued(credit_id="c1", number="A-2026-0000001", family_id="f1", commune="heillecourt",
                      amount_cents=300), "billing"),
        (RequestStatusChanged(request_id="r1", reference="D-2026-00001", family_id="f1", commune="heillecourt",
                              category_code="other", category_label="Autre", requested_by="u-lea",
                              old_status="envoyee", new_status="en_cours", status_label="En cours",
                              changed_by_role="agent", changed_at=T0, link=f"{URL}/demandes/r1"), "requests"),
        (PendingRequestsSummarised(commune="heillecourt", day=dt.date(2026, 12, 1), pending=1, sent=1, in_progress=0,
                                   by_category=[CategoryCount(code="other", label="Autre", count=1)],
                                   link=f"{URL}/agent/demandes"), "requests"),
    ]


EXPECTED = {  # template -> recipients (Paul turned request updates off)
    "cart_validated": ["lea@example.org"],
    "waiting_list_confirmed": ["lea@example.org", "paul@example.org"],
    "cancellation_processed": ["lea@example.org", "paul@example.org"],
    "booking_reminder": ["lea@example.org", "paul@example.org"],
    "payment_received": ["lea@example.org", "paul@example.org"],
    "payment_failed": ["lea@example.org", "paul@example.org"],
    "invoice_published": ["lea@example.org", "paul@example.org"],
    "credit_issued": ["lea@example.org", "paul@example.org"],
    "request_status_changed": ["lea@example.org"],
    "pending_requests_summary": ["anne@mairie.example.org"],
}


def directory_ready(db):
    with db.read() as s:
        counts = [s.execute(sa.select(sa.func.count()).select_from(t)).scalar()
                  for t in (user_emails, family_guardians, children, agents)]
    return counts == [3, 3, 1, 1]  # Léa, Paul, Anne; Léa twice (activation, guardian) + Paul; Zoé; Anne


def test_each_event_delivered_twice_is_one_email_per_recipient(db, run_worker, smtp_port, amqp_vhost_url):
    assert {k.template for k in messages.KINDS.values() if k.source != "identity"} == set(EXPECTED)
    with db.transaction() as s:
        preferences.write_preferences(s, Caller(sub="u-paul", role="parent", family_id="f1"),
                                      {"items": [{"kind": "request_status_changed", "enabled": False}]})
    with SmtpServer(smtp_port) as smtp:
        run_worker()
        publish(amqp_vhost_url, *[envelope_of(p, "identity") for p in identity_facts()])
        wait_until(lambda: directory_ready(db), timeout=20)
        events = [envelope_of(payload, source) for payload, source in platform_events()]
        publish(amqp_vhost_url, *events, *events)  # every event delivered twice
        total = sum(len(v) for v in EXPECTED.values())
        wait_until(lambda: len([r for r in rows(db) if r["source_event_type"] not in (
            "password.changed.v1", "activation.issued.v1", "totp_enrolment.requested.v1")
            and r["status"] == "sent"]) == total, timeout=30)
        sent = {}
        for r in rows(db):
            sent.setdefault(r["template"], []).append(r["recipient"])
        for template, recipients in EXPECTED.items():
            assert sorted(sent[template]) == recipients, template
            for address in recipients:  # and the SMTP server got exactly one of each
                subjects = [m["Subject"] for m in smtp.inbox.to(address)]
                mine = [r["subject"] for r in rows(db, template=template, recipient=address)]
                assert len(mine) == 1 and subjects.count(mine[0]) == 1, (template, address)
    cancellation = rows(db, template="cancellation_processed")
    assert {r["source_event_id"] for r in cancellation} == {events[2].id}  # the agent's, not the parent's
    assert {(r["commune"], r["family_id"]) for r in rows(db, template="payment_received")} == {("heillecourt", "f1")}
