"""Stand-ins on real loopback ports for the portal's tests: identity's OpenID endpoints (the
gateway's test FakeIdentity, reused) and the gateway's public invoices API."""
import sys
from pathlib import Path
from urllib.parse import parse_qs, urlsplit

from flask import Flask, jsonify, request

from mesfactures.settings import Settings

# The gateway's test helpers (FakeIdentity, serve, SigningKey, closed_port) are reused, not copied.
ROOT = Path(__file__).resolve().parents[3]
sys.path.insert(0, str(ROOT / "gateway" / "tests"))

ISSUER = "http://famille.test/oidc"
CLIENT_ID, CLIENT_SECRET = "mesfactures", "mesfactures-test-secret"
PORTAL = "http://portail.test"
PARENT_CLAIMS = {"sub": "parent-1", "name": "Camille Martin", "family_id": "fam-1"}
TO_PAY = {"id": "inv-1", "number": "F-2026-09-0000012", "kind": "invoice", "status": "to_pay", "month": "2026-09",
          "month_label": "septembre 2026", "total_cents": 123456, "paid_cents": 0, "due_cents": 123456,
          "published_on": "2026-10-01", "displayed_deadline": "2026-10-15", "payable_online": True,
          "direct_debit": False}
PAID = {**TO_PAY, "id": "inv-2", "number": "F-2026-08-0000005", "status": "paid", "month_label": "août 2026",
        "total_cents": 4200, "paid_cents": 4200, "due_cents": 0, "payable_online": False}


class FakeApi:
    """The gateway's /api/invoices: answers `status`, else what the test asks."""

    def __init__(self):
        self.answer_status = 200
        self.seen: list[dict] = []
        self.items = {"to_pay": [TO_PAY], "paid": [PAID]}
        app = Flask("fake-gateway-api")

        @app.get("/api/invoices")
        def invoices():
            self.seen.append({"authorization": request.headers.get("Authorization"), "args": request.args.to_dict()})
            if self.answer_status != 200:
                return jsonify(status=self.answer_status, detail="Ce compte n'est rattaché à aucune famille."), \
                    self.answer_status, {"Content-Type": "application/problem+json"}
            items = self.items.get(request.args.get("status"), [])
            return jsonify(items=items, page=1, per_page=50, total=len(items),
                           to_pay_cents=sum(i["due_cents"] for i in items), credit_cents=0)

        self.app = app


def make_settings(identity_base: str, api_base: str, tmp_path: Path) -> Settings:
    return Settings(public_url=PORTAL, issuer=ISSUER, client_id=CLIENT_ID, client_secret=CLIENT_SECRET,
                    secret_key="test-secret-key", api_url=api_base, family_space_url="http://famille.test",
                    provider_internal_url=identity_base, sessions_path=str(tmp_path / "sessions.db"))


def sign_in(client, identity) -> None:
    """The whole code flow: the portal sends the browser to identity, identity (already signed
    in: single sign-on) sends it back with a code."""
    resp = client.get("/auth/login")
    assert resp.status_code == 302
    query = {k: v[0] for k, v in parse_qs(urlsplit(resp.headers["Location"]).query).items()}
    code = identity.authorize(query)
    back = client.get(f"/auth/callback?code={code}&state={query['state']}")
    assert back.status_code == 302 and back.headers["Location"] == "/", back.text
