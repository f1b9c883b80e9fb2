"""A removed attendance mark is its own event, attendance.removed.v1: attendance.recorded.v1 is
unchanged (events already in queues, outboxes and dead-letter queues keep validating, and
consumers that only price marks need nothing new), and the removal names the same slot and a
time to order it against the marks."""
import datetime as dt

import pytest
from pydantic import ValidationError

from contracts.booking import AttendanceRecorded, AttendanceRemoved
from contracts.registry import payload_models, schemas

SLOT = {"family_id": "f1", "child_id": "c1", "commune": "heillecourt", "service_id": "s1", "prestation_id": "p1",
        "session_date": "2026-12-07", "payment_mode": "end_of_month", "price_ref": "REPAS"}
OLD_MARK = {**SLOT, "status": "present", "booked": False, "recorded_at": "2026-12-07T09:00:00Z"}


def test_a_mark_published_before_removals_existed_still_validates():
    mark = AttendanceRecorded.model_validate(OLD_MARK)
    assert mark.status == "present" and mark.session_date == dt.date(2026, 12, 7)
    # "no mark" is not smuggled into the existing event: its statuses are the three marks
    assert schemas()["attendance.recorded.v1.json"]["properties"]["status"]["enum"] == [
        "present", "absent_justified", "absent_unjustified"]
    with pytest.raises(ValidationError):
        AttendanceRecorded.model_validate({**OLD_MARK, "status": None})


def test_a_removal_names_the_same_slot_as_the_mark_and_when_it_happened():
    assert payload_models()["attendance.removed.v1"] is AttendanceRemoved
    removal = AttendanceRemoved.model_validate({**SLOT, "removed_status": "present",
                                                "removed_at": "2026-12-07T09:05:00Z"})
    mark = AttendanceRecorded.model_validate(OLD_MARK)
    assert {k: getattr(removal, k) for k in SLOT} == {k: getattr(mark, k) for k in SLOT}
    assert removal.removed_at > mark.recorded_at  # comparable with the marks' times (aware datetimes)
    required = set(schemas()["attendance.removed.v1.json"]["required"])
    assert set(SLOT) | {"removed_status", "removed_at"} <= required


@pytest.mark.parametrize("status", [None, "none", "unknown"])
def test_a_removal_says_which_mark_it_removed(status):
    with pytest.raises(ValidationError):
        AttendanceRemoved.model_validate({**SLOT, "removed_status": status, "removed_at": "2026-12-07T09:05:00Z"})
