"""What the agents' catalogue pages read and write, without I/O: deadline rules in French words,
the presets communes use, and the prestation form <-> booking's API body.

Deadline rules are data in booking (`DeadlineRule` in services/booking/booking/openapi.yaml):
`{"kind": "calendar_days", "days": 1, "at": "12:00"}`… The agent picks a preset or writes the
rule field by field; the gateway checks the fields' types (a French message next to each) and
booking checks the rules themselves (422 with its French problems).
"""
from __future__ import annotations

import datetime as dt
import re
from zoneinfo import ZoneInfo

WEEKDAY_NAMES = ("lundi", "mardi", "mercredi", "jeudi", "vendredi", "samedi", "dimanche")
WEEKDAY_CHOICES = [(i, name.capitalize()) for i, name in enumerate(WEEKDAY_NAMES)]

KINDS = [
    ("calendar_days", "jours calendaires avant la séance, à une heure donnée"),
    ("working_days", "jours ouvrés avant (week-ends et jours fériés exclus), à une heure donnée"),
    ("school_days", "jours d'école avant, à une heure donnée"),
    ("hours_before_start", "heures avant le début de la séance"),
    ("weekly_cutoff", "un jour fixe de la semaine précédente, pour toute la semaine"),
    ("before_holidays", "jours avant le premier jour des vacances, pour toute la période"),
]
KINDCODES = {code for code, _ in KINDS}

# (key, rule): the rules seen in communes (issue 8), offered as one-click choices.
PRESETS = [
    ("veille-12h", {"kind": "calendar_days", "days": 1, "at": "12:00"}),
    ("veille-15h", {"kind": "calendar_days", "days": 1, "at": "15:00"}),
    ("veille-18h", {"kind": "calendar_days", "days": 1, "at": "18:00"}),
    ("ouvre-1-10h", {"kind": "working_days", "days": 1, "at": "10:00"}),
    ("ouvres-2-12h", {"kind": "working_days", "days": 2, "at": "12:00"}),
    ("72h", {"kind": "hours_before_start", "hours": 72}),
    ("8-jours", {"kind": "calendar_days", "days": 8, "at": "00:00"}),
    ("jeudi-9h", {"kind": "weekly_cutoff", "weekday": 3, "at": "09:00", "weeks_before": 1}),
    ("vacances-15-jours", {"kind": "before_holidays", "days": 15, "at": "00:00"}),
]
PRESET_RULES = dict(PRESETS)
CUSTOM = "personnalise"

PAYMENT_MODES = [("end_of_month", "Facturé en fin de mois"), ("prepaid", "Payé à la réservation")]
OPENS_DURING = [("periode_scolaire", "Année scolaire, hors vacances"), ("vacances", "Vacances scolaires seulement")]
REFUNDS = [("credit", "Avoir sur la prochaine facture"), ("refund", "Remboursement"),
           ("none", "Sans remboursement"), ("not_invoiced", "Non facturé (prestations facturées en fin de mois)")]
REFUND_LABELS = dict(REFUNDS)

PARIS = ZoneInfo("Europe/Paris")
MAX_WINDOWS = 20  # booking's limit
_TIME = re.compile(r"^([01]\d|2[0-3]):[0-5]\d$")
CODE = re.compile(r"^[a-z0-9]+(-[a-z0-9]+)*$")


def _plural(n: int, word: str, plural: str | None = None) -> str:
    return f"{n} {word if n <= 1 else (plural or word + 's')}"


def clock(at: str | None) -> str:
    """« 12:00 » -> « 12 h », « 09:30 » -> « 9 h 30 », « 00:00 » -> « 0 h » (the start of that day)."""
    try:
        hours, minutes = (int(part) for part in str(at).split(":")[:2])
    except ValueError:
        return ""
    return f"{hours} h" if minutes == 0 else f"{hours} h {minutes:02d}"


def rule_words(rule: dict | None) -> str:
    """A deadline rule as an agent (or a parent) reads it: « La veille à 12 h »."""
    if not rule:
        return "Non renseigné"
    kind = rule.get("kind")
    days = int(rule.get("days") or 0)
    at_words = f"à {clock(rule.get('at') or '00:00')}"
    if kind == "calendar_days":
        if days == 0:
            return f"Le jour même {at_words}"
        if days == 1:
            return f"La veille {at_words}"
        return f"{days} jours avant {at_words}"
    if kind == "working_days":
        return f"{_plural(days, 'jour ouvré', 'jours ouvrés')} avant {at_words} (week-ends et jours fériés exclus)"
    if kind == "school_days":
        school = _plural(days, "jour d'école", "jours d'école")
        return f"{school} avant {at_words}"
    if kind == "hours_before_start":
        return f"{_plural(int(rule.get('hours') or 0), 'heure')} avant le début de la séance"
    if kind == "weekly_cutoff":
        weekday = WEEKDAY_NAMES[int(rule.get("weekday") or 0) % 7]
        weeks = int(rule.get("weeks_before") or 1)
        before = "de la semaine précédente" if weeks == 1 else f"{weeks} semaines avant"
        return f"Le {weekday} {at_words} {before}, pour toute la semaine"
    if kind == "before_holidays":
        return f"{_plural(days, 'jour')} avant le premier jour des vacances {at_words}, pour toute la période"
    return "Règle inconnue"


def preset_choices() -> list[tuple[str, str]]:
    return [(key, rule_words(rule)) for key, rule in PRESETS] + [(CUSTOM, "Personnalisé (réglages ci-dessous)")]


def preset_of(rule: dict | None) -> str:
    """The preset a stored rule is, or CUSTOM."""
    for key, preset in PRESETS:
        if rule and all(rule.get(k) == v for k, v in preset.items()) and rule.get("kind") == preset["kind"]:
            return key
    return CUSTOM


def weekdays_words(days) -> str:
    names = [WEEKDAY_NAMES[d] for d in sorted(days or []) if 0 <= d <= 6]
    if not names:
        return "aucun jour"
    return ", ".join(names[:-1]) + (" et " if len(names) > 1 else "") + names[-1]


# --- form -> API body ---------------------------------------------------------------------------
WINDOW_FIELDS = ("first", "last", "opens_at", "residents_open_at")
RULE_FIELDS = ("preset", "kind", "days", "at", "hours", "weekday", "weeks_before")
TEXT_FIELDS = ("code", "label", "first", "last", "opens_during", "starts_at", "ends_at", "payment_mode", "price_ref",
               "capacity", "horizon_days", "refund_on_cancellation")
CHECKBOXES = ("waiting_list", "waiting_list_auto_confirm", "cancellation_auto_accept")
DEADLINES = (("bd", "booking_deadline"), ("cd", "cancellation_deadline"))


def form_values_of(prestation: dict) -> dict:
    """The form's values for a stored prestation (editing)."""
    schedule = prestation.get("schedule") or {}
    values = {
        "code": prestation.get("code") or "", "label": prestation.get("label") or "",
        "first": schedule.get("first") or "", "last": schedule.get("last") or "",
        "weekdays": [str(d) for d in schedule.get("weekdays") or []],
        "opens_during": schedule.get("opens_during") or "periode_scolaire",
        "starts_at": prestation.get("starts_at") or "", "ends_at": prestation.get("ends_at") or "",
        "payment_mode": prestation.get("payment_mode") or "end_of_month",
        "price_ref": prestation.get("price_ref") or "",
        "capacity": "" if prestation.get("capacity") is None else str(prestation["capacity"]),
        "horizon_days": "" if prestation.get("horizon_days") is None else str(prestation["horizon_days"]),
        "refund_on_cancellation": prestation.get("refund_on_cancellation") or "credit",
        **{name: bool(prestation.get(name)) for name in CHECKBOXES},
    }
    values["windows"] = [{"first": w.get("first") or "", "last": w.get("last") or "",
                          "opens_at": _local(w.get("opens_at")),
                          "residents_open_at": _local(w.get("residents_open_at"))}
                         for w in prestation.get("windows") or []]
    for prefix, key in DEADLINES:
        rule = prestation.get(key) or {}
        values[f"{prefix}_preset"] = preset_of(rule)
        values[f"{prefix}_kind"] = rule.get("kind") or "calendar_days"
        for name in ("days", "at", "hours", "weekday", "weeks_before"):
            values[f"{prefix}_{name}"] = "" if rule.get(name) is None else str(rule[name])
    return values


def _local(instant: str | None) -> str:
    """An API instant -> the `datetime-local` value of a form, in Paris time."""
    if not instant:
        return ""
    try:
        return dt.datetime.fromisoformat(instant).astimezone(PARIS).strftime("%Y-%m-%dT%H:%M")
    except ValueError:
        return ""


def new_form_values() -> dict:
    """A new prestation's form: the day before at 18:00, invoiced at the end of the month."""
    values = form_values_of({"booking_deadline": PRESET_RULES["veille-18h"],
                             "cancellation_deadline": PRESET_RULES["veille-18h"],
                             "cancellation_auto_accept": True})
    return values


def read_form(form) -> dict:
    """The submitted form, as text (bounded), for re-display and parsing."""
    values = {name: (form.get(name) or "").strip()[:200] for name in TEXT_FIELDS}
    values["weekdays"] = [d for d in form.getlist("weekdays") if d in {str(i) for i in range(7)}]
    for name in CHECKBOXES:
        values[name] = bool(form.get(name))
    values["windows"] = []
    for i in range(MAX_WINDOWS + 1):
        row = {name: (form.get(f"w_{name}-{i}") or "").strip()[:20] for name in WINDOW_FIELDS}
        if any(row.values()):
            values["windows"].append(row)
    for prefix, _ in DEADLINES:
        for name in RULE_FIELDS:
            values[f"{prefix}_{name}"] = (form.get(f"{prefix}_{name}") or "").strip()[:20]
    return values


def _int(values: dict, name: str, errors: dict, low: int, high: int, required: bool, what: str) -> int | None:
    text = values.get(name, "")
    if text == "":
        if required:
            errors[name] = f"Indiquez {what}."
        return None
    if not re.fullmatch(r"\d{1,6}", text) or not low <= int(text) <= high:
        errors[name] = f"Indiquez {what} : un nombre entier de {low} à {high}."
        return None
    return int(text)


def _date(values: dict, name: str, errors: dict, what: str) -> str | None:
    text = values.get(name, "")
    try:
        return dt.date.fromisoformat(text).isoformat() if len(text) == 10 else _bad_date(name, errors, what)
    except ValueError:
        return _bad_date(name, errors, what)


def _bad_date(name: str, errors: dict, what: str) -> None:
    errors[name] = f"Indiquez {what} (une date au format JJ/MM/AAAA)."
    return None


def _time(values: dict, name: str, errors: dict, what: str, required: bool) -> str | None:
    text = values.get(name, "")
    if text == "" and not required:
        return None
    if not _TIME.match(text):
        errors[name] = f"Indiquez {what} au format HH:MM (par exemple 12:00)."
        return None
    return text


def parse_rule(values: dict, prefix: str, errors: dict) -> dict | None:
    """A deadline rule from its preset or its fields (`bd_…` booking, `cd_…` cancellation)."""
    preset = values.get(f"{prefix}_preset") or CUSTOM
    if preset in PRESET_RULES:
        return dict(PRESET_RULES[preset])
    kind = values.get(f"{prefix}_kind")
    if kind not in KINDCODES:
        errors[f"{prefix}_kind"] = "Choisissez le type de délai."
        return None
    rule: dict = {"kind": kind}
    if kind == "hours_before_start":
        rule["hours"] = _int(values, f"{prefix}_hours", errors, 0, 8760, True, "le nombre d'heures")
    elif kind == "weekly_cutoff":
        rule["weekday"] = _int(values, f"{prefix}_weekday", errors, 0, 6, True, "le jour de la semaine")
        rule["at"] = _time(values, f"{prefix}_at", errors, "l'heure limite", True)
        rule["weeks_before"] = _int(values, f"{prefix}_weeks_before", errors, 1, 52, False,
                                    "le nombre de semaines") or 1
    else:
        rule["days"] = _int(values, f"{prefix}_days", errors, 0, 365, True, "le nombre de jours")
        rule["at"] = _time(values, f"{prefix}_at", errors, "l'heure limite", True)
    return rule


def _instant(values: dict, name: str, errors: dict, what: str, required: bool) -> str | None:
    text = values.get(name, "")
    if not text and not required:
        return None
    try:
        return dt.datetime.fromisoformat(text).replace(tzinfo=PARIS).isoformat()
    except ValueError:
        errors[name] = f"Indiquez {what} (date et heure)."
        return None


def parse_windows(values: dict, errors: dict) -> list[dict]:
    """Booking's opening windows from the form's rows (ids w_first-0…); an empty row is none."""
    windows = []
    for i, row in enumerate(values.get("windows") or []):
        fields = {name: row.get(name, "") for name in WINDOW_FIELDS}
        named = {f"w_{name}-{i}": text for name, text in fields.items()}
        first = _date(named, f"w_first-{i}", errors, "le premier jour de la période")
        last = _date(named, f"w_last-{i}", errors, "le dernier jour de la période")
        if first and last and last < first:
            errors[f"w_last-{i}"] = "Le dernier jour doit suivre le premier."
        opens = _instant(named, f"w_opens_at-{i}", errors, "l'ouverture des réservations", True)
        residents = _instant(named, f"w_residents_open_at-{i}", errors, "l'ouverture pour les habitants", False)
        windows.append({"first": first, "last": last, "opens_at": opens, "residents_open_at": residents})
    if len(windows) > MAX_WINDOWS:
        errors["windows"] = f"Au plus {MAX_WINDOWS} fenêtres d'ouverture."
    return windows


def prestation_body(values: dict, *, creating: bool) -> tuple[dict, dict]:
    """(booking's PrestationSettings body, errors per field in French)."""
    errors: dict[str, str] = {}
    body: dict = {}
    if creating:
        if not CODE.match(values.get("code", "")):
            errors["code"] = ("Indiquez un code en minuscules, chiffres et tirets (par exemple cantine-repas).")
        body["code"] = values.get("code", "")
    if not values.get("label"):
        errors["label"] = "Indiquez le libellé de la prestation."
    body["label"] = values.get("label", "")
    first = _date(values, "first", errors, "le premier jour")
    last = _date(values, "last", errors, "le dernier jour")
    if first and last and last < first:
        errors["last"] = "Le dernier jour doit suivre le premier."
    weekdays = sorted(int(d) for d in values.get("weekdays") or [])
    if not weekdays:
        errors["weekdays"] = "Cochez au moins un jour d'ouverture."
    opens = values.get("opens_during") if values.get("opens_during") in dict(OPENS_DURING) else None
    if opens is None:
        errors["opens_during"] = "Choisissez la période d'ouverture."
    body["schedule"] = {"first": first, "last": last, "weekdays": weekdays, "opens_during": opens}
    body["starts_at"] = _time(values, "starts_at", errors, "l'heure de début", False)
    body["ends_at"] = _time(values, "ends_at", errors, "l'heure de fin", False)
    if values.get("payment_mode") not in dict(PAYMENT_MODES):
        errors["payment_mode"] = "Choisissez le mode de paiement."
    body["payment_mode"] = values.get("payment_mode")
    if not values.get("price_ref"):
        errors["price_ref"] = "Indiquez la référence de tarif (celle de la grille tarifaire)."
    elif len(values["price_ref"]) > 64:
        errors["price_ref"] = "La référence de tarif fait au plus 64 caractères."
    body["price_ref"] = values.get("price_ref")
    body["capacity"] = _int(values, "capacity", errors, 0, 10000, False, "la capacité")
    body["horizon_days"] = _int(values, "horizon_days", errors, 1, 730, False, "l'horizon de réservation")
    for prefix, key in DEADLINES:
        body[key] = parse_rule(values, prefix, errors)
    for name in CHECKBOXES:
        body[name] = bool(values.get(name))
    refund = values.get("refund_on_cancellation")
    if refund not in REFUND_LABELS:
        errors["refund_on_cancellation"] = "Choisissez ce que devient une annulation payée."
    body["refund_on_cancellation"] = refund
    body["windows"] = parse_windows(values, errors)
    return body, errors


# Booking's rule problems (French sentences, domain/catalogue.py) -> the field they are about.
PROBLEM_FIELDS = [
    ("avant les vacances", "opens_during"),
    ("délai en heures", "starts_at"),
    ("capacité", "capacity"),
    ("heure de fin", "ends_at"),
    ("liste d'attente demande", "capacity"),
    ("confirmation automatique", "waiting_list_auto_confirm"),
    ("horizon", "horizon_days"),
    ("non facturé", "refund_on_cancellation"),
    ("tarif", "price_ref"),
    ("code", "code"),
    ("période", "last"),
]


def problems_by_field(detail: str) -> tuple[dict[str, str], list[str]]:
    """Booking's 422 detail (problems joined by « ; ») -> (errors next to fields, the rest)."""
    errors: dict[str, str] = {}
    rest: list[str] = []
    for problem in (p.strip() for p in detail.split(" ; ") if p.strip()):
        field = next((f for needle, f in PROBLEM_FIELDS if needle in problem.lower()), None)
        sentence = problem if problem.endswith(".") else problem + "."
        if field and field not in errors:
            errors[field] = sentence
        else:
            rest.append(sentence)
    return errors, rest
