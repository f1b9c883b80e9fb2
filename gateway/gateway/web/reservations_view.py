"""What the parents' booking pages show, shaped from booking's answers (no I/O here).

French dates without depending on the system's locale, the month calendar as weeks of days
(each with its state in words, an icon, its deadline and what the parent may do), cart lines
grouped by child and prestation, skipped dates grouped by reason.
"""
from __future__ import annotations

import calendar as month_days
import datetime as dt
from collections import OrderedDict
from dataclasses import dataclass, field
from zoneinfo import ZoneInfo

PARIS = ZoneInfo("Europe/Paris")

WEEKDAYS = ("lundi", "mardi", "mercredi", "jeudi", "vendredi", "samedi", "dimanche")
MONTHS = ("janvier", "février", "mars", "avril", "mai", "juin", "juillet", "août", "septembre", "octobre",
          "novembre", "décembre")

# State code (booking's MonthCalendar) -> (icon, CSS tone). The words come from booking
# (`label`); the icon repeats them for sighted readers, never replaces them.
STATE_STYLE = {
    "bookable": ("○", "open"),
    "booked": ("✓", "booked"),
    "awaiting_payment": ("€", "pending"),
    "awaiting_confirmation": ("…", "pending"),
    "waiting_list": ("◔", "pending"),
    "cancellation_requested": ("↺", "pending"),
    "cancelled": ("✕", "off"),
    "full": ("■", "off"),
    "closed": ("—", "closed"),
    "past_deadline": ("⊘", "off"),
    "not_yet_open": ("◷", "off"),
    "not_enrolled": ("—", "closed"),
    "present": ("✓", "present"),
    "absent_justified": ("✕", "absent"),
    "absent_unjustified": ("✕", "absent"),
}
# The icons are drawn from fonts every system has (no emoji): they must never show as boxes.
# Closures that are not news for a parent (no service that weekday, outside the period):
# those dates are left out of the calendar, with one sentence saying so.
QUIET_CLOSURES = ("not_an_opening_weekday", "outside_period")

OUTCOME_GROUPS = (
    ("confirmed", "Réservations confirmées"),
    ("held", "En attente de paiement"),
    ("waiting_listed", "Sur liste d'attente"),
    ("cancelled", "Annulations acceptées"),
    ("cancellation_requested", "Annulations transmises au service"),
    ("left_waiting_list", "Retraits de liste d'attente"),
    ("refused", "Refusées"),
)


# --- French dates ---------------------------------------------------------------------------
def parse_date(value) -> dt.date | None:
    if isinstance(value, dt.date) and not isinstance(value, dt.datetime):
        return value
    try:
        return dt.date.fromisoformat(str(value))
    except (TypeError, ValueError):
        return None


def parse_instant(value) -> dt.datetime | None:
    if not value:
        return None
    try:
        parsed = dt.datetime.fromisoformat(str(value).replace("Z", "+00:00"))
    except ValueError:
        return None
    return parsed.astimezone(PARIS) if parsed.tzinfo else parsed.replace(tzinfo=PARIS)


def day_long(day: dt.date, today: dt.date | None = None) -> str:
    """« mardi 8 septembre » (with the year when it is not this year's)."""
    text = f"{WEEKDAYS[day.weekday()]} {1 if day.day == 1 else day.day}{'er' if day.day == 1 else ''} {MONTHS[day.month - 1]}"
    if today is not None and day.year != today.year:
        text += f" {day.year}"
    return text


def clock(moment: dt.datetime) -> str:
    """« 10 h », « 18 h 30 »."""
    return f"{moment.hour} h" if moment.minute == 0 else f"{moment.hour} h {moment.minute:02d}"


def moment_long(value, today: dt.date | None = None) -> str:
    """« mardi 8 septembre à 10 h » in Paris time ("" when unknown)."""
    moment = parse_instant(value)
    if moment is None:
        return ""
    return f"{day_long(moment.date(), today)} à {clock(moment)}"


def until_moment(value, today: dt.date) -> str:
    """« jusqu'à 18 h 31 aujourd'hui » or « jusqu'au mardi 8 septembre à 10 h » (a hold's end)."""
    moment = parse_instant(value)
    if moment is None:
        return ""
    if moment.date() == today:
        return f"jusqu'à {clock(moment)} aujourd'hui"
    return f"jusqu'au {day_long(moment.date(), today)} à {clock(moment)}"


def until(value, today: dt.date | None = None) -> str:
    """« jusqu'au mardi 8 septembre à 10 h »; a midnight deadline is the day before, « inclus »."""
    moment = parse_instant(value)
    if moment is None:
        return ""
    if (moment.hour, moment.minute) == (0, 0):
        return f"jusqu'au {day_long(moment.date() - dt.timedelta(days=1), today)} inclus"
    return f"jusqu'au {day_long(moment.date(), today)} à {clock(moment)}"


def hour(value: str | None) -> str:
    """« 07:30 » -> « 7 h 30 »."""
    try:
        hours, minutes = (int(part) for part in str(value).split(":")[:2])
    except ValueError:
        return ""
    return clock(dt.datetime(2000, 1, 1, hours, minutes))


def month_label(month: dt.date) -> str:
    return f"{MONTHS[month.month - 1]} {month.year}"


def parse_month(value: str | None, today: dt.date) -> dt.date:
    """The first day of `value` (AAAA-MM); this month when missing or malformed."""
    try:
        year, number = (int(part) for part in (value or "").split("-"))
        return dt.date(year, number, 1)
    except ValueError:
        return today.replace(day=1)


def shift_month(month: dt.date, delta: int) -> dt.date:
    index = month.year * 12 + month.month - 1 + delta
    return dt.date(index // 12, index % 12 + 1, 1)


# --- the month calendar ---------------------------------------------------------------------
@dataclass
class Day:
    date: dt.date
    iso: str
    title: str              # « lundi 7 décembre »
    state: str
    label: str              # booking's words, with why a date is closed
    icon: str
    tone: str
    can_book: bool
    can_cancel: bool
    full: bool
    booking_deadline: str   # « jusqu'au … » or ""
    cancellation_deadline: str
    places_left: int | None
    opens_at: str
    in_cart: str | None     # "book" / "cancel" when a cart line already covers the date
    line_value: str = ""    # the checkbox value: child|prestation|date|action


@dataclass
class Week:
    monday: dt.date
    title: str
    days: list[Day] = field(default_factory=list)
    closed_label: str | None = None   # every shown day closed for the same reason


def weeks_of(prestation: dict, child_id: str, cart_actions: dict, today: dt.date) -> tuple[list[Week], list[int]]:
    """The prestation's days as weeks (Monday first) and the weekdays that have service."""
    weeks: "OrderedDict[dt.date, Week]" = OrderedDict()
    weekdays: set[int] = set()
    for raw in prestation.get("days") or []:
        day = parse_date(raw.get("date"))
        if day is None or raw.get("closure") in QUIET_CLOSURES:
            continue
        weekdays.add(day.weekday())
        monday = day - dt.timedelta(days=day.weekday())
        week = weeks.setdefault(monday, Week(monday, f"Semaine du {day_long(monday, today)}"))
        state = raw.get("state") or "closed"
        icon, tone = STATE_STYLE.get(state, ("•", "closed"))
        can_book, can_cancel = bool(raw.get("can_book")), bool(raw.get("can_cancel"))
        action = "book" if can_book else ("cancel" if can_cancel else "")
        week.days.append(Day(
            date=day, iso=day.isoformat(), title=day_long(day, today), state=state,
            label=raw.get("label") or raw.get("state_label") or state, icon=icon, tone=tone,
            can_book=can_book, can_cancel=can_cancel, full=state == "full",
            booking_deadline=until(raw.get("booking_deadline"), today) if can_book else "",
            cancellation_deadline=until(raw.get("cancellation_deadline"), today) if can_cancel else "",
            places_left=raw.get("places_left"), opens_at=moment_long(raw.get("booking_opens_at"), today),
            in_cart=cart_actions.get((child_id, prestation.get("id"), day.isoformat())),
            line_value=f"{child_id}|{prestation.get('id')}|{day.isoformat()}|{action}" if action else ""))
    merged: list[Week] = []
    for week in weeks.values():
        labels = {d.label for d in week.days}
        if week.days and len(labels) == 1 and all(d.state == "closed" for d in week.days):
            week.closed_label = labels.pop()
            previous = merged[-1] if merged else None
            if previous is not None and previous.closed_label == week.closed_label:
                # Closed weeks in a row for the same reason (holidays, term time) are one line.
                previous.title = (f"Du {day_long(previous.monday, today)} "
                                  f"au {day_long(week.monday + dt.timedelta(days=6), today)}")
                continue
        merged.append(week)
    return merged, sorted(weekdays)


def _joined(names: list[str]) -> str:
    return names[0] if len(names) == 1 else ", ".join(names[:-1]) + " et " + names[-1]


def quiet_weekdays(weekdays: list[int]) -> str:
    """Which weekdays the calendar leaves out (no service then), in one sentence."""
    missing = [WEEKDAYS[n] for n in range(7) if n not in weekdays]
    if not missing or len(missing) == 7:
        return ""
    if len(weekdays) <= 2:
        return f"Accueil le {_joined([WEEKDAYS[n] for n in weekdays])} seulement : les autres jours ne sont pas affichés."
    return f"Pas d'accueil {_joined([f'le {name}' for name in missing])} : ces jours ne sont pas affichés."


# --- the cart -----------------------------------------------------------------------------
def parse_line(value: str) -> dict | None:
    """A checkbox value `child|prestation|date|action` -> a cart line (None when malformed)."""
    parts = (value or "").split("|")
    if len(parts) != 4 or not all(parts[:3]) or parts[3] not in ("book", "cancel") or parse_date(parts[2]) is None:
        return None
    return {"child_id": parts[0], "prestation_id": parts[1], "session_date": parts[2], "action": parts[3]}


EDITABLE_CART_STATES = ("open", "expired", "failed")  # booking reopens an expired or failed cart


def cart_actions(cart: dict | None) -> dict:
    """(child, prestation, date) -> action for the lines of a cart the parent can still change."""
    if not cart or cart.get("state", "open") not in EDITABLE_CART_STATES:
        return {}
    return {(line.get("child_id"), line.get("prestation_id"), line.get("session_date")): line.get("action")
            for line in cart.get("lines") or []}


class Line(dict):
    """A cart line for the templates. Jinja reads `line.title` as an attribute first: on a plain
    dict that raises and catches an AttributeError, some sixty times per result page; here the
    key is found directly (a missing key is still an AttributeError, then jinja's undefined)."""

    def __getattr__(self, name: str):
        try:
            return self[name]
        except KeyError:
            raise AttributeError(name) from None


@dataclass
class LineGroup:
    child_name: str
    prestation_label: str
    lines: list[Line]


def grouped_lines(lines: list[dict], today: dt.date) -> list[LineGroup]:
    """Cart lines grouped by child, then prestation, each group by date."""
    groups: "OrderedDict[tuple, LineGroup]" = OrderedDict()
    for line in sorted(lines, key=lambda l: (l.get("child_name") or "", l.get("prestation_label") or "",
                                             l.get("session_date") or "")):
        key = (line.get("child_id"), line.get("prestation_id"))
        group = groups.setdefault(key, LineGroup(line.get("child_name") or "Enfant",
                                                 line.get("prestation_label") or "Prestation", []))
        day = parse_date(line.get("session_date"))
        group.lines.append(Line(line, title=day_long(day, today) if day else line.get("session_date")))
    return list(groups.values())


def by_outcome(lines: list[dict], today: dt.date) -> list[tuple[str, str, list[LineGroup]]]:
    """(outcome code, heading, groups) for each outcome present, in a fixed order."""
    out = []
    for code, heading in OUTCOME_GROUPS:
        chosen = [line for line in lines if line.get("outcome") == code]
        if chosen:
            out.append((code, heading, grouped_lines(chosen, today)))
    return out


def skipped_by_reason(skipped: list[dict], today: dt.date) -> list[tuple[str, list[str]]]:
    """(reason in words, dates) for the dates a period left out."""
    groups: "OrderedDict[str, list[str]]" = OrderedDict()
    for item in sorted(skipped, key=lambda s: s.get("session_date") or ""):
        day = parse_date(item.get("session_date"))
        groups.setdefault(item.get("reason_label") or item.get("reason") or "Autre raison", []).append(
            day_long(day, today) if day else str(item.get("session_date")))
    return list(groups.items())


def dates_by_month(isos: list[str], today: dt.date) -> list[tuple[str, list[str]]]:
    """(« décembre 2026 », [« jeudi 3 », …]) to list many dates compactly."""
    groups: "OrderedDict[tuple[int, int], list[str]]" = OrderedDict()
    for iso in sorted(isos):
        day = parse_date(iso)
        if day is not None:
            groups.setdefault((day.year, day.month), []).append(f"{WEEKDAYS[day.weekday()]} {day.day}")
    return [(month_label(dt.date(y, m, 1)), days) for (y, m), days in groups.items()]


def last_day(month: dt.date) -> dt.date:
    return month.replace(day=month_days.monthrange(month.year, month.month)[1])
