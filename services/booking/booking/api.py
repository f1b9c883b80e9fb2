"""Booking's internal HTTP API: thin async adapters from openapi.yaml operations to use cases.

Each operation runs one sync use case through `Database.run_read` / `run_write` (a worker thread
per unit of work, ADR 0007): reads in one snapshot, writes in one transaction that also holds
their outbox events. Refusals become
problem+json: `Problem` as raised, the domain's `ValueError` (French message) as 422, an illegal
cart move or a concurrent write that lost (unique key, deadlock) as 409 — never a 500.
"""
from __future__ import annotations

import asyncio
import functools

from connexion import NoContent, request
from starlette.responses import Response

from servicekit.operations import Operations
from servicekit.web import Problem, current_caller

from booking import abandon, attendance, carts, catalogue, desk, dossiers, enrolments, idempotency, parents
from booking import audit as audit_trail
from booking.domain.cart import IllegalTransition


def _date_out_of_range(_exc: OverflowError) -> Problem:  # a date near year 1 or 9999 pushed past the calendar
    return Problem(422, "Date hors des limites du calendrier.")


ops = Operations({
    IllegalTransition: lambda exc: Problem(409, str(exc)),
    ValueError: lambda exc: Problem(422, str(exc)),  # the domain's refusals carry a French message
    OverflowError: _date_out_of_range,
})
_problems, _read, _write, _ok = ops.problems, ops.read, ops.write, ops.ok


def _once(operation: str, use_case) -> tuple:
    """`_write` arguments running an agent's creation once per Idempotency-Key (a retry gets the first answer)."""
    return idempotency.once, current_caller(), operation, request.headers.get("Idempotency-Key"), use_case


# --- agents: calendar and catalogue ------------------------------------------------------------------------------
@_problems
async def get_calendar():
    return _ok(await _read(catalogue.get_calendar, current_caller()))


@_problems
async def put_calendar(body):
    return _ok(await _write(catalogue.put_calendar, current_caller(), body))


@_problems
async def list_services(page=1, per_page=50):
    return _ok(await _read(catalogue.list_services, current_caller(), page, per_page))


@_problems
async def create_service(body):
    return _ok(await _write(*_once("service.create", catalogue.create_service), body), 201)


@_problems
async def update_service(service_id, body):
    return _ok(await _write(catalogue.update_service, current_caller(), service_id, body))


@_problems
async def delete_service(service_id):
    await _write(catalogue.delete_service, current_caller(), service_id)
    return NoContent, 204


@_problems
async def list_prestations(service_id=None, page=1, per_page=50):
    return _ok(await _read(catalogue.list_prestations, current_caller(), service_id, page, per_page))


@_problems
async def create_prestation(body):
    return _ok(await _write(*_once("prestation.create", catalogue.create_prestation), body), 201)


@_problems
async def get_prestation(prestation_id):
    return _ok(await _read(catalogue.get_prestation, current_caller(), prestation_id))


@_problems
async def update_prestation(prestation_id, body):
    return _ok(await _write(catalogue.update_prestation, current_caller(), prestation_id, body))


@_problems
async def delete_prestation(prestation_id):
    await _write(catalogue.delete_prestation, current_caller(), prestation_id)
    return NoContent, 204


@_problems
async def generate_sessions(prestation_id, body):
    return _ok(await _write(catalogue.generate_sessions, current_caller(), prestation_id, body))


@_problems
async def list_sessions(prestation_id, first, last):
    return _ok(await _read(catalogue.list_sessions, current_caller(), prestation_id, first, last))


@_problems
async def set_session_capacity(prestation_id, session_date, body):
    return _ok(await _write(catalogue.set_session_capacity, current_caller(), prestation_id, session_date, body))


@_problems
async def list_closures(first=None, last=None, page=1, per_page=50):
    return _ok(await _read(catalogue.list_closures, current_caller(), first, last, page, per_page))


@_problems
async def create_closure(body):
    return _ok(await _write(catalogue.create_closure, current_caller(), body), 201)


@_problems
async def delete_closure(closure_id):
    await _write(catalogue.delete_closure, current_caller(), closure_id)
    return NoContent, 204


# --- agents: children, enrolments, attendance ----------------------------------------------------------------------
@_problems
async def list_commune_children(q=None, page=1, per_page=50):
    return _ok(await _read(enrolments.list_children, current_caller(), q, page, per_page))


@_problems
async def get_commune_child(child_id):
    return _ok(await _read(enrolments.get_child, current_caller(), child_id))


@_problems
async def list_enrolments(child_id=None, service_id=None, page=1, per_page=50):
    return _ok(await _read(enrolments.list_enrolments, current_caller(), child_id, service_id, page, per_page))


@_problems
async def create_enrolment(body):
    # Ask requests about the child's dossier first, off the event loop and outside the
    # transaction (booking.dossiers: fails closed, 503, when requests does not answer).
    key = request.headers.get("Idempotency-Key")
    target = await _read(enrolments.enrolment_target, current_caller(), body, key)
    if target.get("answer") is not None:  # a retry of an enrolment already made: its first answer
        return _ok(target["answer"], 201)
    dossier = await asyncio.to_thread(dossiers.fetch, target["family_id"], target["commune"],
                                      target["service_id"], target["child_id"])
    return _ok(await _write(*_once(enrolments.ENROL, functools.partial(enrolments.enrol, dossier=dossier)),
                            body), 201)


@_problems
async def delete_enrolment(enrolment_id):
    await _write(enrolments.delete_enrolment, current_caller(), enrolment_id)
    return NoContent, 204


@_problems
async def get_day_list(prestation_id, session_date, page=1, per_page=200):
    return _ok(await _read(attendance.day_list, current_caller(), prestation_id, session_date, page, per_page))


@_problems
async def record_attendance(prestation_id, session_date, body):
    return _ok(await _write(attendance.record, current_caller(), prestation_id, session_date, body))


@_problems
async def remove_attendance(prestation_id, session_date, child_id):
    return _ok(await _write(attendance.remove, current_caller(), prestation_id, session_date, child_id))


# --- agents: desk ----------------------------------------------------------------------------------------------------
@_problems
async def list_bookings(first, last, child_id=None, prestation_id=None, status=None, page=1, per_page=50):
    return _ok(await _read(desk.list_bookings, current_caller(), first, last, child_id, prestation_id, status,
                           page, per_page))


@_problems
async def list_cancellation_requests(page=1, per_page=50):
    return _ok(await _read(desk.list_cancellation_requests, current_caller(), page, per_page))


@_problems
async def decide_cancellation(booking_id, body):
    return _ok(await _write(desk.decide_cancellation, current_caller(), booking_id, body))


@_problems
async def list_waiting(prestation_id=None, session_date=None, page=1, per_page=50):
    return _ok(await _read(desk.list_waiting, current_caller(), prestation_id, session_date, page, per_page))


@_problems
async def decide_waiting(booking_id, body):
    return _ok(await _write(desk.decide_waiting, current_caller(), booking_id, body))


@_problems
async def list_overrides(page=1, per_page=50):
    return _ok(await _read(desk.list_overrides, current_caller(), page, per_page))


@_problems
async def create_override(body):
    return _ok(await _write(desk.create_override, current_caller(), body), 201)


def _audit_page(session, caller, page, per_page):
    from booking import access

    return audit_trail.page(session, access.agent_commune(session, caller), page, per_page)


@_problems
async def list_audit(page=1, per_page=50):
    return _ok(await _read(_audit_page, current_caller(), page, per_page))


CSV = {"Content-Type": "text/csv; charset=utf-8"}


@_problems
async def export_bookings(first, last):
    text = await _read(desk.export_bookings, current_caller(), first, last)
    return text, 200, {**CSV, "Content-Disposition": f'attachment; filename="reservations_{first}_{last}.csv"'}


@_problems
async def export_attendance(first, last):
    text = await _read(desk.export_attendance, current_caller(), first, last)
    return text, 200, {**CSV, "Content-Disposition": f'attachment; filename="pointage_{first}_{last}.csv"'}


# --- parents ----------------------------------------------------------------------------------------------------
@_problems
async def list_my_children():
    return _ok(await _read(parents.list_children, current_caller()))


@_problems
async def list_bookable_services(page=1, per_page=50):
    return _ok(await _read(parents.list_services, current_caller(), page, per_page))


@_problems
async def get_month_calendar(child_id, service_id, month):
    return _ok(await _read(parents.month_calendar, current_caller(), child_id, service_id, month))


@_problems
async def preview_period(body):
    return _ok(await _read(carts.preview_period, current_caller(), body))


@_problems
async def get_cart():
    return _ok(await _read(carts.get_cart, current_caller()))


@_problems
async def add_cart_lines(body):
    return _ok(await _write(carts.add_lines, current_caller(), body))


@_problems
async def remove_cart_line(body):
    return _ok(await _write(carts.remove_line, current_caller(), body))


@_problems
async def add_cart_period(body):
    return _ok(await _write(carts.add_period, current_caller(), body))


@_problems
async def validate_cart():
    key, caller = request.headers.get("Idempotency-Key"), current_caller()
    for _ in range(OPTIMISTIC_ATTEMPTS):  # the séances locked only for the claim of their places and the commit
        try:
            return _answer(await _write(carts.validate_cart, caller, key, optimistic=True, commit=True))
        except carts.Contended:  # places decided on were taken meanwhile: decided again on a new peek
            continue
    return _answer(await _write(carts.validate_cart, caller, key))  # still contended: séances locked first


def _answer(answer: dict):
    """"Valider"'s answer: its JSON text as written with the cart when there is one (the body
    connexion's encoder would give: the same `json.dumps` and final newline), else encoded here."""
    if isinstance(answer, carts.Answer):
        return Response((answer.text + "\n").encode(), 200, media_type="application/json")
    return _ok(answer)


# A lost claim is decided again on a fresh peek (the dates that filled up meanwhile are then seen
# full, and the rest claimed) before the séances are locked for the whole validation: locked
# first, a cart holds its dates through every statement while every other cart of them waits.
OPTIMISTIC_ATTEMPTS = 3


@_problems
async def abandon_cart_payment():
    return _ok(await _write(abandon.abandon_payment, current_caller()))


@_problems
async def get_feed(child_id):
    return _ok(await _read(parents.get_feed, current_caller(), child_id))


@_problems
async def create_feed(child_id):
    return _ok(await _write(parents.create_feed, current_caller(), child_id), 201)


@_problems
async def revoke_feed(child_id):
    await _write(parents.revoke_feed, current_caller(), child_id)
    return NoContent, 204


@_problems
async def get_public_feed(token):
    body = await _read(parents.feed_body, token)
    return body, 200, {"Content-Type": "text/calendar; charset=utf-8"}
