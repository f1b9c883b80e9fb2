"""Stored and API JSON <-> the domain's data (prestations, schedules, deadline rules, windows).

Reading goes through the domain's constructors, so whatever they refuse (a period that ends
before it starts, an unknown weekday, a naive opening time…) is refused here with their French
message, as a `ValueError` the API turns into a 422.
"""
from __future__ import annotations

import datetime as dt
from collections.abc import Mapping
from typing import Any

from booking.domain import deadlines as d
from booking.domain.catalogue import PaymentMode, Prestation, RefundDecision
from booking.domain.closures import CommuneCalendar
from booking.domain.openings import OpensDuring, Schedule
from booking.domain.policy import BookingPolicy, OpeningWindow

PAYMENT_MODES = {mode.code: mode for mode in PaymentMode}
REFUNDS = {decision.code: decision for decision in RefundDecision}
OPENS_DURING = {value.value: value for value in OpensDuring}


def _time(value: str | None) -> dt.time | None:
    if value is None:
        return None
    try:
        return dt.time.fromisoformat(value)
    except (TypeError, ValueError):
        raise ValueError(f"Heure invalide : {value!r} (format HH:MM)") from None


def _hhmm(value: dt.time | None) -> str | None:
    return value.strftime("%H:%M") if value is not None else None


def _date(value: Any) -> dt.date:
    if isinstance(value, dt.date):
        return value
    try:
        return dt.date.fromisoformat(value)
    except (TypeError, ValueError):
        raise ValueError(f"Date invalide : {value!r} (format AAAA-MM-JJ)") from None


def _instant(value: Any) -> dt.datetime | None:
    if value is None or isinstance(value, dt.datetime):
        return value
    try:
        return dt.datetime.fromisoformat(value)
    except (TypeError, ValueError):
        raise ValueError(f"Date et heure invalides : {value!r}") from None


# --- deadline rules -----------------------------------------------------------------------------------
def rule_from_json(data: Mapping[str, Any]) -> d.DeadlineRule:
    kind = data.get("kind")
    at = _time(data.get("at"))
    days = data.get("days", 0)
    if kind == "calendar_days":
        return d.CalendarDaysBefore(days, at or dt.time(0))
    if kind == "working_days":
        return d.WorkingDaysBefore(days, at or dt.time(0))
    if kind == "school_days":
        return d.SchoolDaysBefore(days, at or dt.time(0))
    if kind == "hours_before_start":
        return d.HoursBeforeStart(data.get("hours", 0))
    if kind == "weekly_cutoff":
        return d.WeeklyCutoff(data.get("weekday", 0), at or dt.time(0), data.get("weeks_before", 1))
    if kind == "before_holidays":
        return d.BeforeHolidayPeriod(days, at or dt.time(0))
    raise ValueError(f"Type de délai inconnu : {kind!r}")


def rule_to_json(rule: d.DeadlineRule) -> dict:
    if isinstance(rule, d.CalendarDaysBefore):
        return {"kind": "calendar_days", "days": rule.days, "at": _hhmm(rule.at)}
    if isinstance(rule, d.WorkingDaysBefore):
        return {"kind": "working_days", "days": rule.days, "at": _hhmm(rule.at)}
    if isinstance(rule, d.SchoolDaysBefore):
        return {"kind": "school_days", "days": rule.days, "at": _hhmm(rule.at)}
    if isinstance(rule, d.HoursBeforeStart):
        return {"kind": "hours_before_start", "hours": rule.hours}
    if isinstance(rule, d.WeeklyCutoff):
        return {"kind": "weekly_cutoff", "weekday": rule.weekday, "at": _hhmm(rule.at),
                "weeks_before": rule.weeks_before}
    if isinstance(rule, d.BeforeHolidayPeriod):
        return {"kind": "before_holidays", "days": rule.days, "at": _hhmm(rule.at)}
    raise TypeError(f"unknown deadline rule {rule!r}")


# --- schedules and windows ----------------------------------------------------------------------------
def schedule_from_json(data: Mapping[str, Any], closed_dates: frozenset[dt.date] = frozenset()) -> Schedule:
    opens = data.get("opens_during", OpensDuring.SCHOOL_TERM.value)
    if opens not in OPENS_DURING:
        raise ValueError(f"Période d'ouverture inconnue : {opens!r}")
    return Schedule(_date(data.get("first")), _date(data.get("last")), frozenset(data.get("weekdays") or ()),
                    OPENS_DURING[opens], closed_dates)


def schedule_to_json(schedule: Schedule) -> dict:
    return {"first": schedule.first.isoformat(), "last": schedule.last.isoformat(),
            "weekdays": sorted(schedule.weekdays), "opens_during": schedule.opens_during.value}


def window_from_json(data: Mapping[str, Any]) -> OpeningWindow:
    window = OpeningWindow(_date(data.get("first")), _date(data.get("last")), _instant(data.get("opens_at")),
                           _instant(data.get("residents_open_at")))
    if window.last < window.first:
        raise ValueError("La fin de la fenêtre d'ouverture précède son début")
    return window


def window_to_json(window: OpeningWindow) -> dict:
    return {"first": window.first.isoformat(), "last": window.last.isoformat(),
            "opens_at": window.opens_at.isoformat(),
            "residents_open_at": window.residents_open_at.isoformat() if window.residents_open_at else None}


# --- prestations ----------------------------------------------------------------------------------------
def prestation_from_row(row: Mapping[str, Any], closed_dates: frozenset[dt.date] = frozenset()) -> Prestation:
    """The domain's prestation from a `prestations` row (and the ad-hoc closures that apply)."""
    return Prestation(
        id=row["id"], service_id=row["service_id"], label=row["label"],
        schedule=schedule_from_json(row["schedule"], closed_dates),
        policy=BookingPolicy(rule_from_json(row["booking_deadline"]), rule_from_json(row["cancellation_deadline"]),
                             row["horizon_days"], tuple(window_from_json(w) for w in row["windows"])),
        payment_mode=PAYMENT_MODES[row["payment_mode"]], price_ref=row["price_ref"], capacity=row["capacity"],
        starts_at=row["starts_at"], ends_at=row["ends_at"], waiting_list=row["waiting_list"],
        waiting_list_auto_confirm=row["waiting_list_auto_confirm"],
        cancellation_auto_accept=row["cancellation_auto_accept"],
        refund_on_cancellation=REFUNDS[row["refund_on_cancellation"]],
    )


def prestation_values(prestation: Prestation) -> dict:
    """The columns of a `prestations` row for a domain prestation (id, commune and code aside)."""
    return {
        "service_id": prestation.service_id, "label": prestation.label,
        "schedule": schedule_to_json(prestation.schedule),
        "booking_deadline": rule_to_json(prestation.policy.booking_deadline),
        "cancellation_deadline": rule_to_json(prestation.policy.cancellation_deadline),
        "horizon_days": prestation.policy.horizon_days,
        "windows": [window_to_json(w) for w in prestation.policy.windows],
        "payment_mode": prestation.payment_mode.code, "price_ref": prestation.price_ref,
        "capacity": prestation.capacity, "starts_at": prestation.starts_at, "ends_at": prestation.ends_at,
        "waiting_list": prestation.waiting_list, "waiting_list_auto_confirm": prestation.waiting_list_auto_confirm,
        "cancellation_auto_accept": prestation.cancellation_auto_accept,
        "refund_on_cancellation": prestation.refund_on_cancellation.code,
    }


def prestation_from_input(prestation_id: str, service_id: str, body: Mapping[str, Any]) -> Prestation:
    """An agent's prestation (API body) checked by the domain: ValueError with every problem."""
    mode = body.get("payment_mode")
    refund = body.get("refund_on_cancellation", RefundDecision.CREDIT.code)
    if mode not in PAYMENT_MODES:
        raise ValueError(f"Mode de paiement inconnu : {mode!r}")
    if refund not in REFUNDS:
        raise ValueError(f"Décision de remboursement inconnue : {refund!r}")
    if mode == PaymentMode.END_OF_MONTH.code and "refund_on_cancellation" not in body:
        refund = RefundDecision.NONE.code  # irrelevant: end-of-month dates are simply not invoiced
    prestation = Prestation(
        id=prestation_id, service_id=service_id, label=body.get("label", "").strip(),
        schedule=schedule_from_json(body.get("schedule") or {}),
        policy=BookingPolicy(rule_from_json(body.get("booking_deadline") or {}),
                             rule_from_json(body.get("cancellation_deadline") or {}),
                             body.get("horizon_days"), tuple(window_from_json(w) for w in body.get("windows") or ())),
        payment_mode=PAYMENT_MODES[mode], price_ref=(body.get("price_ref") or "").strip(),
        capacity=body.get("capacity"), starts_at=_time(body.get("starts_at")), ends_at=_time(body.get("ends_at")),
        waiting_list=body.get("waiting_list", False),
        waiting_list_auto_confirm=body.get("waiting_list_auto_confirm", False),
        cancellation_auto_accept=body.get("cancellation_auto_accept", True),
        refund_on_cancellation=REFUNDS[refund],
    )
    if not prestation.label:
        raise ValueError("Le libellé est obligatoire")
    return prestation


def prestation_view(row: Mapping[str, Any]) -> dict:
    """A prestation as the API shows it."""
    return {
        "id": row["id"], "service_id": row["service_id"], "code": row["code"], "label": row["label"],
        "schedule": row["schedule"], "booking_deadline": row["booking_deadline"],
        "cancellation_deadline": row["cancellation_deadline"], "horizon_days": row["horizon_days"],
        "windows": row["windows"], "payment_mode": row["payment_mode"],
        "payment_mode_label": PAYMENT_MODES[row["payment_mode"]].label, "price_ref": row["price_ref"],
        "capacity": row["capacity"], "starts_at": _hhmm(row["starts_at"]), "ends_at": _hhmm(row["ends_at"]),
        "waiting_list": row["waiting_list"], "waiting_list_auto_confirm": row["waiting_list_auto_confirm"],
        "cancellation_auto_accept": row["cancellation_auto_accept"],
        "refund_on_cancellation": row["refund_on_cancellation"],
    }


def calendar_from_row(row: Mapping[str, Any] | None) -> CommuneCalendar:
    """The commune's calendar; a commune that has not set one gets zone B (Nancy-Metz) and a
    five-day school week until an agent says otherwise."""
    if row is None:
        return CommuneCalendar("B")
    return CommuneCalendar(row["zone"], frozenset(row["school_weekdays"]))
