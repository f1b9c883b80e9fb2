"""Sibling portals ("Mes factures en ligne") read a family's invoices through the gateway's public
API with an access token carrying `invoices:read`; the gateway asks billing as that parent, so one
family never sees another's."""
import pytest
from flask import jsonify, request

from helpers import PORTAL_ISSUER as ISSUER, access_claims, bearer_get as get, fake_service, \
    portal_identity, public_api_client, served  # noqa: F401 (portal_identity: the `identity` fixture)

INVOICES = {
    "fam-1": [{"id": "inv-1", "number": "F-2026-09-0000001", "kind": "invoice", "status": "to_pay", "month": "2026-09",
               "total_cents": 4250, "due_cents": 4250, "published_on": "2026-10-01", "family_id": "fam-1"}],
    "fam-2": [{"id": "inv-2", "number": "F-2026-09-0000002", "kind": "invoice", "status": "paid", "month": "2026-09",
               "total_cents": 1000, "due_cents": 0, "published_on": "2026-10-01", "family_id": "fam-2"}],
}


@pytest.fixture
def billing():
    """billing's parent API as far as the gateway uses it: it answers for the caller's family only."""
    app = fake_service("fake-billing", "billing")
    caller = app.caller

    @app.get("/internal/parent/invoices")
    def invoices():
        items = [i for i in INVOICES.get(caller().family_id, [])
                 if request.args.get("status") in (None, i["status"])]
        return jsonify({"items": items, "page": 1, "per_page": 50, "total": len(items),
                        "to_pay_cents": sum(i["due_cents"] for i in items), "credit_cents": 0})

    @app.get("/internal/parent/invoices/<invoice_id>")
    def invoice(invoice_id):
        family = caller().family_id
        found = next((i for i in INVOICES.get(family, []) if i["id"] == invoice_id), None)
        if found is None:
            return jsonify({"status": 404, "detail": "Cette facture est introuvable."}), 404, \
                {"Content-Type": "application/problem+json"}
        return jsonify({**found, "lines": [{"child_name": "Léa", "amount_cents": 4250}]})

    with served(app):
        yield app


@pytest.fixture
def client(identity, billing, tmp_path):
    with public_api_client(tmp_path, identity, BILLING_URL=billing.base) as c:
        yield c


def token(identity, scope="openid invoices:read", **claims):
    return identity.key.sign(access_claims(ISSUER, scope=scope, **claims))


def test_a_portal_token_with_invoices_read_lists_its_familys_invoices(client, identity, billing):
    resp = get(client, "/api/invoices?status=to_pay", token(identity, family_id="fam-1"))
    assert resp.status_code == 200, resp.text
    body = resp.json()
    assert [i["number"] for i in body["items"]] == ["F-2026-09-0000001"] and body["to_pay_cents"] == 4250
    caller, path = billing.seen[-1]
    assert caller.role == "parent" and caller.family_id == "fam-1" and caller.sub == "user-123"
    assert "status=to_pay" in path


def test_one_family_never_sees_anothers_invoices(client, identity, billing):
    other = token(identity, family_id="fam-2")
    listed = get(client, "/api/invoices", other).json()["items"]
    assert [i["id"] for i in listed] == ["inv-2"]
    resp = get(client, "/api/invoices/inv-1", other)
    assert resp.status_code == 404 and resp.headers["content-type"].startswith("application/problem+json")
    assert get(client, "/api/invoices/inv-2", other).json()["lines"]


def test_one_invoice_with_its_lines(client, identity):
    resp = get(client, "/api/invoices/inv-1", token(identity, family_id="fam-1"))
    assert resp.status_code == 200 and resp.json()["lines"][0]["child_name"] == "Léa"


@pytest.mark.parametrize("path", ["/api/invoices", "/api/invoices/inv-1"])
def test_without_the_scope_billing_is_never_asked(client, identity, billing, path):
    resp = get(client, path, token(identity, scope="openid requests:read", family_id="fam-1"))
    assert resp.status_code == 403 and "invoices:read" in resp.json()["detail"]
    assert resp.headers["content-type"].startswith("application/problem+json")
    assert billing.seen == []


def test_an_account_without_a_family_is_refused(client, identity, billing):
    resp = get(client, "/api/invoices", token(identity))
    assert resp.status_code == 403 and resp.headers["content-type"].startswith("application/problem+json")
    assert billing.seen == []


def test_without_a_token_it_is_401(client, billing):
    resp = client.get("/api/invoices")
    assert resp.status_code == 401 and billing.seen == []


def test_a_bad_status_is_a_400_before_billing(client, identity, billing):
    resp = get(client, "/api/invoices?status=everything", token(identity, family_id="fam-1"))
    assert resp.status_code == 400 and billing.seen == []
