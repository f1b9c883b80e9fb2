"""The agents' billing back office ("Facturation"), on billing's agent API, for the active commune only.

    /agent/facturation                               invoicing runs (newest first), "Préparer la facturation d'un mois"
    /agent/facturation/campagnes                     POST: draft the run of a month (replaces the previous draft)
    /agent/facturation/campagnes/<id>                one run: totals, warnings in words, documents per family (paged)
    /agent/facturation/campagnes/<id>/finaliser      POST: finalise a draft (the agent ticks a confirmation first)
    /agent/facturation/campagnes/<id>/abandonner     POST: discard a draft

Invoices, payments, the QF and the CSV exports are in `agent_facturation_caisse` (same blueprint).
Billing scopes every call to the service token's commune (`as_agent=True`): another commune's run
or invoice is a 404 whatever the URL says. Its refusals (problem+json, French `detail`) are shown
on the page the agent was using; anything else goes to the app's French error pages.
"""
from __future__ import annotations

import datetime as dt
import re
from zoneinfo import ZoneInfo

from flask import Blueprint, flash, redirect, render_template, request, url_for

from gateway import auth, clients
from gateway.clients import ServiceError
from gateway.web.account_helpers import register_filters

bp = Blueprint("agent_facturation", __name__, url_prefix="/agent/facturation")
register_filters(bp)

PARIS = ZoneInfo("Europe/Paris")
PER_PAGE = 25
WARNINGS_PER_PAGE = 50
# Billing's statuses whose French detail belongs on the page the agent was using.
PAGE_STATUSES = (400, 409, 422)
MONTH = re.compile(r"^\d{4}-(0[1-9]|1[0-2])$")
MONTHS_FR = ("janvier", "février", "mars", "avril", "mai", "juin", "juillet", "août", "septembre", "octobre",
             "novembre", "décembre")

RUN_STATES = {"draft": ("Brouillon à vérifier", "warning"), "finalised": ("Finalisée", "success"),
              "discarded": ("Abandonnée", "muted")}
RUN_KINDS = {"monthly": "Mensuelle", "corrective": "Corrective"}
# What each warning means for the agent (billing's own message gives the detail of each one).
WARNINGS = {
    "attendance_missing": "Réservations sans présence enregistrée",
    "family_without_qf": "Familles sans quotient familial (tarif de la tranche la plus haute)",
    "zero_total": "Factures à 0 €",
    "negative_total": "Totaux négatifs (deviendront des avoirs)",
    "catch_up": "Jours d'un mois précédent rattrapés",
    "unknown_family": "Familles inconnues de la facturation",
    "unknown_prestation": "Prestations sans grille tarifaire (non facturées)",
}
METHOD_WORDS = {"online": "En ligne", "cash": "Espèces", "cheque": "Chèque", "cesu": "CESU",
                "holiday_vouchers": "Chèques vacances", "direct_debit": "Prélèvement"}
DOC_STATUSES = {"to_pay": ("À payer", "warning"), "paid": ("Payée", "success"), "credit": ("Avoir", "muted"),
                "cancelled": ("Annulée", "muted"), "draft": ("Brouillon", "muted")}


def month_words(month: str | None) -> str:
    """"2026-09" -> "septembre 2026"."""
    if not month or not MONTH.match(month):
        return month or ""
    year, number = month.split("-")
    return f"{MONTHS_FR[int(number) - 1]} {year}"


def last_month() -> str:
    first = dt.datetime.now(PARIS).date().replace(day=1)
    return (first - dt.timedelta(days=1)).strftime("%Y-%m")


def page_arg(name: str = "page") -> int:
    try:
        return max(1, min(int(request.args.get(name, "1")), 100000))
    except ValueError:
        return 1


def commune() -> dict | None:
    return auth.active_commune()


@bp.app_template_filter("mois_fr")
def _mois_fr(value) -> str:
    return month_words(value)


@bp.context_processor
def _billing_words():
    return {"run_states": RUN_STATES, "run_kinds": RUN_KINDS, "doc_statuses": DOC_STATUSES,
            "method_words": METHOD_WORDS}


# --- runs -----------------------------------------------------------------------------------------------------
def _index_page(errors: dict | None = None, values: dict | None = None, status: int = 200):
    page = page_arg()
    runs = clients.billing().get("/internal/agent/runs", params={"page": page, "per_page": PER_PAGE}, as_agent=True)
    total = int(runs.get("total") or 0)
    return render_template("agent/facturation/index.html", commune=commune(), runs=runs.get("items") or [],
                           total=total, page=page, has_next=page * PER_PAGE < total, errors=errors or {},
                           values=values or {"mois": last_month()}), status


@bp.get("")
@auth.agent_required
def index():
    return _index_page()


@bp.post("/campagnes")
@auth.agent_required
def start_run():
    month = (request.form.get("mois") or "").strip()[:7]
    if not MONTH.match(month):
        return _index_page({"mois": "Choisissez le mois à facturer (mois et année)."}, {"mois": month}, 422)
    try:
        run = clients.billing().post("/internal/agent/runs", json={"month": month}, as_agent=True)
    except ServiceError as exc:
        if exc.status not in PAGE_STATUSES:
            raise
        return _index_page({"mois": exc.detail}, {"mois": month}, exc.status)
    flash(f"Le brouillon de facturation de {month_words(month)} est prêt : vérifiez-le avant de le finaliser.",
          "success")
    return redirect(url_for("agent_facturation.run", run_id=run["id"]))


def _run_path(run_id: str, suffix: str = "") -> str:
    return clients.internal_path("/internal/agent/runs/{}" + suffix, run_id)


def _run_page(run_id: str, errors: dict | None = None, status: int = 200):
    billing = clients.billing()
    run = billing.get(_run_path(run_id), as_agent=True)
    page, warnings_page = page_arg(), page_arg("page_alertes")
    code = request.args.get("alerte", "")
    code = code if code in WARNINGS else ""
    documents = billing.get(_run_path(run_id, "/documents"), params={"page": page, "per_page": PER_PAGE},
                            as_agent=True)
    params = {"page": warnings_page, "per_page": WARNINGS_PER_PAGE, **({"code": code} if code else {})}
    warnings = billing.get(_run_path(run_id, "/warnings"), params=params, as_agent=True)
    counts = _warning_counts(run_id) if (run.get("summary") or {}).get("warnings") else {}
    doc_total, warn_total = int(documents.get("total") or 0), int(warnings.get("total") or 0)
    return render_template("agent/facturation/campagne.html", commune=commune(), run=run,
                           summary=run.get("summary") or {}, documents=documents.get("items") or [],
                           doc_total=doc_total, page=page, has_next=page * PER_PAGE < doc_total,
                           warnings=warnings.get("items") or [], warn_total=warn_total, warnings_page=warnings_page,
                           warnings_next=warnings_page * WARNINGS_PER_PAGE < warn_total, warning_words=WARNINGS,
                           counts=counts, code=code, errors=errors or {}), status


def _warning_counts(run_id: str) -> dict[str, int]:
    """How many warnings of each kind the run has (billing's page totals, one small call per kind)."""
    counts = {}
    for code in WARNINGS:
        found = clients.billing().get(_run_path(run_id, "/warnings"), params={"code": code, "per_page": 1},
                                      as_agent=True)
        if found.get("total"):
            counts[code] = int(found["total"])
    return counts


@bp.get("/campagnes/<run_id>")
@auth.agent_required
def run(run_id: str):
    return _run_page(run_id)


@bp.post("/campagnes/<run_id>/finaliser")
@auth.agent_required
def finalise(run_id: str):
    if request.form.get("confirmation") != "1":
        return _run_page(run_id, {"confirmation": "Cochez la case pour confirmer la finalisation."}, 422)
    try:
        run = clients.billing().post(_run_path(run_id, "/finalise"), as_agent=True)
    except ServiceError as exc:
        if exc.status not in PAGE_STATUSES:
            raise
        return _run_page(run_id, {"confirmation": exc.detail}, exc.status)
    summary = run.get("summary") or {}
    count = int(summary.get("invoices") or 0) + int(summary.get("credit_notes") or 0)
    flash(f"Facturation de {month_words(run.get('month'))} finalisée : {count} document{'s' if count > 1 else ''} "
          f"publié{'s' if count > 1 else ''}.", "success")
    return redirect(url_for("agent_facturation.run", run_id=run_id))


@bp.post("/campagnes/<run_id>/abandonner")
@auth.agent_required
def discard(run_id: str):
    try:
        clients.billing().delete(_run_path(run_id), as_agent=True)
    except ServiceError as exc:
        if exc.status not in PAGE_STATUSES:
            raise
        return _run_page(run_id, {"abandon": exc.detail}, exc.status)
    flash("Le brouillon est abandonné : rien n'a été publié.", "success")
    return redirect(url_for("agent_facturation.index"))


# Invoices, payments, QF and exports register their routes on `bp` (kept apart to stay small).
from gateway.web import agent_facturation_caisse  # noqa: E402,F401
