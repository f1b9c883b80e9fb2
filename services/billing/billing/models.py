"""Billing's tables. Money is integer cents; moments are UTCDateTime; calendar days are dates.

Rules live in billing/domain; these tables store their inputs (settings, grids, QF, the
booking projection) and what they decided (runs, invoices, payments, transactions).
"""
import sqlalchemy as sa

from servicekit import idempotency
from servicekit.db import declarative_base
from servicekit.projections import agents as agents_projection
from servicekit.projections import families as families_projection
from servicekit.types import UTCDateTime, utcnow

Base = declarative_base()
metadata = Base.metadata

# Local copy of identity's families per commune (scopes this service's data per tenant).
families = families_projection.define_table(metadata)

# identity's current agents per commune: an agent's call is refused once they are removed.
agents = agents_projection.define_table(metadata)

# Answers of creating POSTs per Idempotency-Key (servicekit.idempotency; kept 24 h): an agent's
# offline payment submitted twice is recorded once.
idempotency_keys = idempotency.define_table(metadata)


def _now_column(name: str = "created_at") -> sa.Column:
    return sa.Column(name, UTCDateTime(), nullable=False, default=utcnow)


# --- configuration per commune ---------------------------------------------------------------------
billing_settings = sa.Table(
    "billing_settings", metadata,
    sa.Column("commune", sa.String(64), primary_key=True),
    # InvoiceDateSettings: each date is "day D, M months after the invoicing month"
    sa.Column("dates", sa.JSON, nullable=False),
    sa.Column("charge_rules", sa.JSON, nullable=False),  # reason -> {"percent": "100", "fixed_cents": 0}
    sa.Column("unrecorded_as_present", sa.Boolean, nullable=False, default=False),
    sa.Column("payment_min_cents", sa.Integer, nullable=True),  # narrower than the provider's bounds
    sa.Column("payment_max_cents", sa.Integer, nullable=True),
    sa.Column("schedule_day", sa.Integer, nullable=True),  # day of month the worker drafts last month's run
    sa.Column("updated_at", UTCDateTime(), nullable=False, default=utcnow),
)

price_grids = sa.Table(
    "price_grids", metadata,
    sa.Column("id", sa.String(36), primary_key=True),
    sa.Column("commune", sa.String(64), nullable=False),
    sa.Column("price_ref", sa.String(64), nullable=False),  # booking's prestation price reference
    sa.Column("label", sa.String(120), nullable=False),  # what invoice lines say ("Repas")
    sa.Column("service_label", sa.String(120), nullable=False),  # attestation's grouping ("Restauration")
    sa.Column("childcare", sa.Boolean, nullable=False, default=False),  # counts for the tax credit
    sa.Column("brackets", sa.JSON, nullable=False),  # [{"upper_qf": 500 | null, "price_cents": 150}]
    sa.Column("charge_rules", sa.JSON, nullable=True),  # overrides of the commune's rules
    sa.Column("updated_at", UTCDateTime(), nullable=False, default=utcnow),
    sa.UniqueConstraint("commune", "price_ref", name="uq_price_grids_commune_price_ref"),
)

# The family's billing profile in a commune: QF (agent's entry or an accepted request), direct debit.
family_accounts = sa.Table(
    "family_accounts", metadata,
    sa.Column("commune", sa.String(64), primary_key=True),
    sa.Column("family_id", sa.String(64), primary_key=True),
    sa.Column("qf", sa.Integer, nullable=True),
    sa.Column("qf_source", sa.String(20), nullable=True),  # agent | request
    sa.Column("qf_set_by", sa.String(64), nullable=True),
    sa.Column("direct_debit", sa.Boolean, nullable=False, default=False),
    sa.Column("updated_at", UTCDateTime(), nullable=False, default=utcnow),
)

# --- projections of other services' facts -----------------------------------------------------------
children = sa.Table(
    "children", metadata,
    sa.Column("child_id", sa.String(64), primary_key=True),
    sa.Column("family_id", sa.String(64), nullable=False, index=True),
    sa.Column("given_name", sa.String(200), nullable=False),
    sa.Column("family_name", sa.String(200), nullable=False),
    sa.Column("birth_date", sa.Date, nullable=False),
    sa.Column("changed_at", UTCDateTime(), nullable=False),
    sa.Column("removed_at", UTCDateTime(), nullable=True),
)

# One row per child, prestation and date, from booking's events: the monthly run's input.
booked_days = sa.Table(
    "booked_days", metadata,
    sa.Column("day_key", sa.String(200), primary_key=True),  # child:prestation:date, the invoicing key
    sa.Column("commune", sa.String(64), nullable=False),
    sa.Column("family_id", sa.String(64), nullable=False),
    sa.Column("child_id", sa.String(64), nullable=False),
    sa.Column("prestation_id", sa.String(64), nullable=False),
    sa.Column("price_ref", sa.String(64), nullable=False),
    sa.Column("payment_mode", sa.String(20), nullable=False),
    sa.Column("session_date", sa.Date, nullable=False),
    sa.Column("booking_id", sa.String(64), nullable=True),
    sa.Column("booking_status", sa.String(20), nullable=True),  # confirmed | cancelled
    sa.Column("refund", sa.String(20), nullable=True),  # booking's refund decision when cancelled
    sa.Column("booking_changed_at", UTCDateTime(), nullable=True),
    sa.Column("attendance", sa.String(30), nullable=True),  # present | absent_justified | absent_unjustified
    sa.Column("attendance_booked", sa.Boolean, nullable=True),
    sa.Column("attendance_changed_at", UTCDateTime(), nullable=True),
    sa.Index("ix_booked_days_commune_date", "commune", "session_date"),
)

# --- invoicing runs ---------------------------------------------------------------------------------
invoicing_runs = sa.Table(
    "invoicing_runs", metadata,
    sa.Column("id", sa.String(36), primary_key=True),
    sa.Column("commune", sa.String(64), nullable=False),
    sa.Column("month", sa.String(7), nullable=False),  # 2026-09
    sa.Column("kind", sa.String(20), nullable=False),  # monthly | corrective
    sa.Column("state", sa.String(20), nullable=False),  # draft | finalised | discarded
    sa.Column("corrects", sa.String(36), nullable=True),  # the corrected invoice (corrective runs)
    sa.Column("options", sa.JSON, nullable=False),
    sa.Column("summary", sa.JSON, nullable=False),  # counts and totals of the draft
    sa.Column("created_by", sa.String(64), nullable=False),
    _now_column(),
    sa.Column("finalised_at", UTCDateTime(), nullable=True),
    sa.Column("finalised_by", sa.String(64), nullable=True),
    sa.Index("ix_invoicing_runs_commune_month", "commune", "month"),
)

run_warnings = sa.Table(
    "run_warnings", metadata,
    sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
    sa.Column("run_id", sa.String(36), sa.ForeignKey("invoicing_runs.id", ondelete="CASCADE"), nullable=False,
              index=True),
    sa.Column("code", sa.String(40), nullable=False),
    sa.Column("family_id", sa.String(64), nullable=False),
    sa.Column("day_key", sa.String(200), nullable=True),
    sa.Column("message", sa.Text, nullable=False),
)

# A day is invoiced once, whatever happens: the primary key refuses a second run's claim.
invoiced_days = sa.Table(
    "invoiced_days", metadata,
    sa.Column("commune", sa.String(64), primary_key=True),
    sa.Column("day_key", sa.String(200), primary_key=True),
    sa.Column("invoice_id", sa.String(36), nullable=True),  # None: priced at zero, nothing issued
    sa.Column("run_id", sa.String(36), nullable=False),
)

# --- documents: invoices (and receipts of prepaid carts) and credit notes ----------------------------
invoices = sa.Table(
    "invoices", metadata,
    sa.Column("id", sa.String(36), primary_key=True),
    sa.Column("commune", sa.String(64), nullable=False),
    sa.Column("family_id", sa.String(64), nullable=False),
    sa.Column("family_name", sa.String(200), nullable=False),
    sa.Column("kind", sa.String(20), nullable=False),  # invoice | credit_note
    sa.Column("origin", sa.String(20), nullable=False),  # monthly | corrective | cart | cancellation | payment
    sa.Column("state", sa.String(20), nullable=False),  # draft | published | cancelled
    sa.Column("run_id", sa.String(36), nullable=True, index=True),
    sa.Column("month", sa.String(7), nullable=False),
    sa.Column("number", sa.String(20), nullable=True),  # given at finalisation (F-2026-09-0000123)
    sa.Column("total_cents", sa.Integer, nullable=False),  # sum of the lines (positive; credit note: its value)
    sa.Column("credited_cents", sa.Integer, nullable=False, default=0),  # credits applied to this invoice
    sa.Column("paid_cents", sa.Integer, nullable=False, default=0),  # allocations of payments
    sa.Column("remaining_cents", sa.Integer, nullable=False, default=0),  # credit note: still usable
    sa.Column("issued_on", sa.Date, nullable=True),
    sa.Column("published_on", sa.Date, nullable=True),
    sa.Column("displayed_deadline", sa.Date, nullable=True),
    sa.Column("last_day_online", sa.Date, nullable=True),
    sa.Column("due_on", sa.Date, nullable=True),
    sa.Column("direct_debit", sa.Boolean, nullable=False, default=False),
    sa.Column("corrects", sa.String(36), nullable=True),
    sa.Column("cart_id", sa.String(64), nullable=True),
    sa.Column("cart_validated_at", UTCDateTime(), nullable=True),
    sa.Column("note", sa.Text, nullable=True),
    _now_column(),
    sa.Column("finalised_at", UTCDateTime(), nullable=True),
    sa.Column("settled_at", UTCDateTime(), nullable=True),
    sa.UniqueConstraint("commune", "number", name="uq_invoices_commune_number"),
    sa.UniqueConstraint("cart_id", "cart_validated_at", name="uq_invoices_cart"),
    sa.Index("ix_invoices_family", "family_id", "commune", "state"),
    sa.Index("ix_invoices_commune_month", "commune", "month"),
)

invoice_lines = sa.Table(
    "invoice_lines", metadata,
    sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
    sa.Column("invoice_id", sa.String(36), sa.ForeignKey("invoices.id", ondelete="CASCADE"), nullable=False,
              index=True),
    sa.Column("position", sa.Integer, nullable=False),
    sa.Column("day_key", sa.String(200), nullable=False),
    sa.Column("child_id", sa.String(64), nullable=False),
    sa.Column("child_name", sa.String(200), nullable=False),
    sa.Column("prestation_id", sa.String(64), nullable=True),
    sa.Column("prestation_label", sa.String(200), nullable=False),
    sa.Column("service_label", sa.String(120), nullable=False),
    sa.Column("childcare", sa.Boolean, nullable=False, default=False),
    sa.Column("day", sa.Date, nullable=False),
    sa.Column("reason", sa.String(30), nullable=True),
    sa.Column("unit_price_cents", sa.Integer, nullable=False),
    sa.Column("amount_cents", sa.Integer, nullable=False),
    sa.Column("label", sa.Text, nullable=False),
)

# A credit note's value used on an invoice (settles it; no money received).
credit_uses = sa.Table(
    "credit_uses", metadata,
    sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
    sa.Column("credit_id", sa.String(36), sa.ForeignKey("invoices.id"), nullable=False, index=True),
    sa.Column("invoice_id", sa.String(36), sa.ForeignKey("invoices.id"), nullable=False, index=True),
    sa.Column("amount_cents", sa.Integer, nullable=False),
    sa.Column("used_on", sa.Date, nullable=False),
    sa.Column("reversed", sa.Boolean, nullable=False, default=False),  # given back (cart payment failed)
    _now_column(),
)

# Gap-free counters: the row is locked FOR UPDATE by the transaction that numbers documents.
number_series = sa.Table(
    "number_series", metadata,
    sa.Column("commune", sa.String(64), primary_key=True),
    sa.Column("series", sa.String(1), primary_key=True),
    sa.Column("year", sa.Integer, primary_key=True),
    sa.Column("last_counter", sa.Integer, nullable=False),
)

# --- payments ---------------------------------------------------------------------------------------
payments = sa.Table(
    "payments", metadata,
    sa.Column("id", sa.String(36), primary_key=True),
    sa.Column("commune", sa.String(64), nullable=False),
    sa.Column("family_id", sa.String(64), nullable=False),
    sa.Column("number", sa.String(20), nullable=False),
    sa.Column("method", sa.String(30), nullable=False),  # billing.domain.allocation.PaymentMethod
    sa.Column("amount_cents", sa.Integer, nullable=False),
    sa.Column("received_on", sa.Date, nullable=False),
    sa.Column("reference", sa.String(200), nullable=True),  # cheque number, bank reference...
    sa.Column("recorded_by", sa.String(64), nullable=True),
    sa.Column("transaction_id", sa.String(36), nullable=True, unique=True),  # online: one payment per attempt
    sa.Column("excess_credit_id", sa.String(36), nullable=True),
    _now_column(),
    sa.UniqueConstraint("commune", "number", name="uq_payments_commune_number"),
    sa.Index("ix_payments_family", "family_id", "commune"),
)

allocations = sa.Table(
    "allocations", metadata,
    sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
    sa.Column("payment_id", sa.String(36), sa.ForeignKey("payments.id"), nullable=False, index=True),
    sa.Column("invoice_id", sa.String(36), sa.ForeignKey("invoices.id"), nullable=False, index=True),
    sa.Column("amount_cents", sa.Integer, nullable=False),
)

# One row per online payment attempt.
payment_transactions = sa.Table(
    "payment_transactions", metadata,
    sa.Column("id", sa.String(36), primary_key=True),
    sa.Column("commune", sa.String(64), nullable=False),
    sa.Column("family_id", sa.String(64), nullable=False),
    sa.Column("provider", sa.String(40), nullable=False),
    sa.Column("provider_transaction_id", sa.String(100), nullable=True, unique=True),
    sa.Column("amount_cents", sa.Integer, nullable=False),
    sa.Column("state", sa.String(20), nullable=False),  # billing.domain.payments.TransactionState
    sa.Column("subject", sa.String(20), nullable=False),  # invoices | cart
    sa.Column("invoice_ids", sa.JSON, nullable=False),
    sa.Column("cart_id", sa.String(64), nullable=True, index=True),
    sa.Column("hold_expires_at", UTCDateTime(), nullable=True),
    sa.Column("idempotency_key", sa.String(200), nullable=True),
    sa.Column("start", sa.JSON, nullable=True),  # the provider's redirect or form, served again on a double click
    sa.Column("return_url", sa.Text, nullable=True),
    sa.Column("bank_reference", sa.String(200), nullable=True),
    sa.Column("failure", sa.String(20), nullable=True),
    sa.Column("payment_id", sa.String(36), nullable=True),
    _now_column(),
    sa.Column("pending_since", UTCDateTime(), nullable=True),
    sa.Column("decided_at", UTCDateTime(), nullable=True),
    sa.Column("last_checked_at", UTCDateTime(), nullable=True),
    sa.UniqueConstraint("family_id", "idempotency_key", name="uq_payment_transactions_idempotency"),
    sa.Index("ix_payment_transactions_open", "state", "created_at"),
)

# Each prepaid cart validation billing received (booking's cart.validated.v1 awaiting payment),
# receipt made or not: cart.abandoned.v1 tells "not seen yet" (retried) from "seen, nothing to pay".
cart_validations = sa.Table(
    "cart_validations", metadata,
    sa.Column("cart_id", sa.String(64), primary_key=True),
    sa.Column("validated_at", UTCDateTime(), primary_key=True),
    sa.Column("family_id", sa.String(64), nullable=False),
    sa.Column("outcome", sa.String(20), nullable=False),  # receipt | nothing_prepaid | refused
    _now_column("seen_at"),
)

# Every provider message received, valid or not (audit; never deleted by billing).
payment_notifications = sa.Table(
    "payment_notifications", metadata,
    sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
    sa.Column("transaction_id", sa.String(36), nullable=True, index=True),
    sa.Column("source", sa.String(20), nullable=False),  # notification | return | status_check
    sa.Column("status", sa.String(20), nullable=True),
    sa.Column("valid", sa.Boolean, nullable=False),
    sa.Column("effect", sa.String(20), nullable=True),
    sa.Column("error", sa.Text, nullable=True),
    sa.Column("raw", sa.JSON, nullable=True),
    sa.Column("received_at", UTCDateTime(), nullable=False, default=utcnow),
)
