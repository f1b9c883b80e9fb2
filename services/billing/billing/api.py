"""Billing's internal HTTP API: thin async adapters from openapi.yaml operations to use cases.

Each operation runs one sync use case in a worker thread (`Database.run_read` / `run_write`; the
outbox rows commit with the change). Refusals are problem+json with a French detail: `Problem`
as raised; the domain's errors (ValueError subclasses with `detail`) as 422; a lost race on a
unique key or a deadlock as 409 (retry) — never a 500.
"""
from __future__ import annotations

from starlette.concurrency import run_in_threadpool

from urllib.parse import urlencode

from connexion import NoContent, request

from servicekit import idempotency, web
from servicekit.operations import Operations
from servicekit.web import Problem, current_caller

from billing import cashdesk, config, documents, payflow, pdf, prices, runs
from billing.access import agent_commune, parent_family
from billing.models import idempotency_keys
from billing.provider import get_provider

# The domain's errors are ValueError subclasses carrying a French `detail`.
ops = Operations({ValueError: lambda exc: Problem(422, getattr(exc, "detail", None) or str(exc))})
_problems, _read, _write, _ok = ops.problems, ops.read, ops.write, ops.ok


def _notify_url() -> str:
    return web.state()["settings"].notify_url()


def _pdf(data: bytes, filename: str):
    return data, 200, {"Content-Type": "application/pdf",
                       "Content-Disposition": f'inline; filename="{filename}"'}


def _csv(text: str, filename: str):
    return text, 200, {"Content-Type": "text/csv; charset=utf-8",
                       "Content-Disposition": f'attachment; filename="{filename}"'}


def _agent() -> tuple[str, str]:
    caller = current_caller()
    return agent_commune(caller), caller.sub


# --- agents: settings, grids, families -------------------------------------------------------------------------
@_problems
async def get_settings():
    commune, _ = _agent()
    return _ok(await _read(config.get_settings, commune))


@_problems
async def put_settings(body):
    commune, _ = _agent()
    return _ok(await _write(config.put_settings, commune, body))


@_problems
async def list_price_grids():
    commune, _ = _agent()
    return _ok(await _read(config.list_grids, commune))


@_problems
async def create_price_grid(body):
    commune, _ = _agent()
    return _ok(await _write(config.create_grid, commune, body), 201)


@_problems
async def get_price_grid(grid_id):
    commune, _ = _agent()
    return _ok(await _read(config.get_grid, commune, grid_id))


@_problems
async def update_price_grid(grid_id, body):
    commune, _ = _agent()
    return _ok(await _write(config.update_grid, commune, grid_id, body))


@_problems
async def delete_price_grid(grid_id):
    commune, _ = _agent()
    await _write(config.delete_grid, commune, grid_id)
    return NoContent, 204


@_problems
async def get_family_account(family_id):
    commune, _ = _agent()
    return _ok(await _read(config.get_account, commune, family_id))


@_problems
async def put_family_account(family_id, body):
    commune, agent = _agent()
    return _ok(await _write(config.put_account, commune, family_id, body, agent))


# --- agents: invoicing runs ----------------------------------------------------------------------------------------
@_problems
async def list_runs(month=None, state=None, page=1, per_page=50):
    commune, _ = _agent()
    return _ok(await _read(runs.list_runs, commune, month, state, page, per_page))


@_problems
async def start_run(body):
    commune, agent = _agent()
    return _ok(await _write(runs.start_run, commune, body["month"], agent), 201)


@_problems
async def get_run(run_id):
    commune, _ = _agent()
    return _ok(await _read(runs.get_run, commune, run_id))


@_problems
async def discard_run(run_id):
    commune, _ = _agent()
    await _write(runs.discard_run, commune, run_id)
    return NoContent, 204


@_problems
async def list_run_warnings(run_id, code=None, page=1, per_page=100):
    commune, _ = _agent()
    return _ok(await _read(runs.run_warnings_page, commune, run_id, code, page, per_page))


@_problems
async def list_run_documents(run_id, family_id=None, page=1, per_page=50):
    commune, _ = _agent()

    def read(session):
        runs.get_run(session, commune, run_id)
        return documents.agent_list(session, commune, page, per_page, run_id=run_id, family_id=family_id)
    return _ok(await _read(read))


@_problems
async def finalise_run(run_id):
    commune, agent = _agent()
    return _ok(await _write(runs.finalise_run, commune, run_id, agent))


@_problems
async def start_correction(invoice_id, body):
    commune, agent = _agent()
    return _ok(await _write(runs.start_correction, commune, invoice_id, body, agent), 201)


# --- agents: documents, payments, exports ----------------------------------------------------------------------------
@_problems
async def list_invoices(month=None, status=None, family_id=None, family_name=None, kind=None, number=None, page=1,
                        per_page=50):
    commune, _ = _agent()
    return _ok(await _read(documents.agent_list, commune, page, per_page, month=month, status=status,
                           family_id=family_id, family_name=family_name, kind=kind, number=number))


@_problems
async def get_invoice(invoice_id):
    commune, _ = _agent()
    return _ok(await _read(documents.agent_detail, commune, invoice_id))


@_problems
async def get_invoice_pdf(invoice_id):
    commune, _ = _agent()
    view = await _read(documents.agent_detail, commune, invoice_id)
    return _pdf(await run_in_threadpool(pdf.invoice_pdf, view), f"{view['number'] or 'brouillon'}.pdf")


@_problems
async def list_payments(family_id=None, method=None, received_from=None, received_to=None, page=1, per_page=50):
    commune, _ = _agent()
    return _ok(await _read(cashdesk.list_payments, commune, page, per_page, family_id=family_id, method=method,
                           received_from=received_from, received_to=received_to))


@_problems
async def record_payment(body):
    """The same Idempotency-Key (same agent) answers the payment it recorded: a double click records one."""
    commune, agent = _agent()
    key = idempotency.key_from(request)
    return _ok(await _write(idempotency.once, idempotency_keys, agent, "record_payment", key, body,
                            cashdesk.record_offline, commune, body, agent), 201)


@_problems
async def get_payment(payment_id):
    commune, _ = _agent()
    return _ok(await _read(cashdesk.get_payment, commune, payment_id))


@_problems
async def list_transactions(state=None, anomalies=False, family_id=None, page=1, per_page=50):
    commune, _ = _agent()
    return _ok(await _read(payflow.agent_transactions, commune, state, anomalies, family_id, page, per_page))


@_problems
async def export_invoices(month=None, status=None, family_id=None, kind=None):
    commune, _ = _agent()
    text = await _read(cashdesk.export_invoices, commune, month=month, status=status, family_id=family_id, kind=kind)
    return _csv(text, f"factures-{commune}{'-' + month if month else ''}.csv")


@_problems
async def export_payments(family_id=None, method=None, received_from=None, received_to=None):
    commune, _ = _agent()
    text = await _read(cashdesk.export_payments, commune, family_id=family_id, method=method,
                       received_from=received_from, received_to=received_to)
    return _csv(text, f"paiements-{commune}.csv")


# --- parents ----------------------------------------------------------------------------------------------------------
def _family() -> str:
    return parent_family(current_caller())


@_problems
async def parent_invoices(status=None, year=None, page=1, per_page=50):
    return _ok(await _read(documents.parent_list, _family(), status, year, page, per_page))


@_problems
async def parent_invoice(invoice_id):
    return _ok(await _read(documents.parent_detail, _family(), invoice_id))


@_problems
async def parent_invoice_pdf(invoice_id):
    family = _family()
    view = await _read(documents.parent_detail, family, invoice_id)
    return _pdf(await run_in_threadpool(pdf.invoice_pdf, view), f"{view['number']}.pdf")


@_problems
async def parent_attestation(year, commune=None):
    return _ok(await _read(pdf.attestation_view, _family(), year, commune))


@_problems
async def parent_attestation_pdf(year, commune=None):
    data = await _read(pdf.attestation_pdf, _family(), year, commune)
    return _pdf(data, f"attestation-{year}.pdf")


@_problems
async def parent_prices(commune, price_ref=None):
    return _ok(await _read(prices.family_prices, commune, _family(), price_ref))


@_problems
async def start_payment(body, idempotency_key=None):
    family = _family()
    return _ok(await _write(payflow.start_invoice_payment, family, body, idempotency_key, get_provider(),
                            _notify_url(), body.get("email")), 201)


@_problems
async def get_parent_payment(transaction_id):
    return _ok(await _read(payflow.parent_transaction, _family(), transaction_id))


@_problems
async def get_cart_payment(cart_id):
    return _ok(await _read(payflow.cart_payment, _family(), cart_id))


@_problems
async def start_cart_payment(cart_id, body):
    family = _family()
    return _ok(await _write(payflow.start_cart_payment, family, cart_id, body, get_provider(), _notify_url(),
                            body.get("email")), 201)


# --- the provider (no service token: the message carries the provider's signature) --------------------------------------
def _form(body) -> bytes:
    """The provider's form as connexion parsed it, encoded again (field order does not matter to
    the signatures: Systempay's is over the sorted vads_* values; PayFiP's is asked to DGFiP)."""
    if not isinstance(body, dict):
        return b""
    return urlencode({str(k): str(v) for k, v in body.items()}).encode("utf-8")


@_problems
async def payment_notification(body=None):
    return _answer(await _write(payflow.handle_notification, get_provider(), _form(body), ""))


@_problems
async def payment_return(body=None, transaction=None):
    query = urlencode({"transaction": transaction}) if transaction else ""
    return _answer(await _write(payflow.handle_return, get_provider(), query, _form(body)))


def _answer(result: dict):
    """The provider's message was logged (committed) whatever happened; now say how it went."""
    if "refusal" in result:
        status, detail = result["refusal"]
        raise Problem(status, detail)
    return _ok(result)
