"""Europe/Paris calendar days for the rules; moments are stored in UTC."""
from __future__ import annotations

import datetime as dt
from zoneinfo import ZoneInfo

from servicekit.types import utcnow

PARIS = ZoneInfo("Europe/Paris")


def paris_today(now: dt.datetime | None = None) -> dt.date:
    return (now or utcnow()).astimezone(PARIS).date()


def paris_date(moment: dt.datetime) -> dt.date:
    return moment.astimezone(PARIS).date()
