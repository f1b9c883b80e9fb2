"""servicekit.operations: refusals become problems, bugs stay bugs."""
import asyncio

import pytest
from sqlalchemy.exc import DBAPIError, IntegrityError

from servicekit.operations import RETRY, Operations
from servicekit.problems import Problem


class Refused(ValueError):
    pass


ops = Operations({
    Refused: lambda exc: Problem(409, f"refusé : {exc}"),
    ValueError: lambda exc: Problem(422, str(exc)),
})


def _run(exc: Exception):
    @ops.problems
    async def operation():
        raise exc
    return asyncio.run(operation())


def test_the_first_matching_refusal_in_the_table_wins():
    with pytest.raises(Problem) as caught:
        _run(Refused("déjà validé"))
    assert (caught.value.status, caught.value.detail) == (409, "refusé : déjà validé")
    with pytest.raises(Problem) as caught:
        _run(ValueError("Date invalide."))
    assert (caught.value.status, caught.value.detail) == (422, "Date invalide.")


class _Orig(Exception):
    def __init__(self, sqlstate):
        self.sqlstate = sqlstate


@pytest.mark.parametrize("exc", [
    IntegrityError("INSERT", {}, Exception("duplicate key")),
    DBAPIError("UPDATE", {}, _Orig("40P01")),  # deadlock
    DBAPIError("UPDATE", {}, _Orig("40001")),  # serialization failure
    DBAPIError("SELECT", {}, _Orig("55P03")),  # lock_timeout / NOWAIT gave up
])
def test_lost_concurrent_writes_are_a_409_to_retry(exc):
    with pytest.raises(Problem) as caught:
        _run(exc)
    assert (caught.value.status, caught.value.detail) == (409, RETRY)


def test_anything_else_is_left_to_the_500_handler():
    with pytest.raises(KeyError):
        _run(KeyError("bug"))
    with pytest.raises(DBAPIError):
        _run(DBAPIError("SELECT", {}, _Orig("42P01")))  # undefined table: a bug, not a race


def test_a_problem_raised_by_the_operation_passes_unchanged():
    with pytest.raises(Problem) as caught:
        _run(Problem(404, "Introuvable."))
    assert caught.value.status == 404


def test_ok_says_json():
    assert Operations.ok({"a": 1}, 201) == ({"a": 1}, 201, {"Content-Type": "application/json"})
