"""A fake of notify's internal API (services/notify/notify/openapi.yaml: /internal/me/preferences,
/internal/undeliverable-addresses) for the notification pages' tests, plus identity's
`/internal/me/household` (the family-space header), so one fake answers both services.

It checks the service token (parent for the preferences, agent of a commune for the list) and,
like notify, scopes the undeliverable addresses to the token's commune.
"""
from __future__ import annotations

import json
from dataclasses import dataclass, field

from flask import Flask, Response, jsonify, request

from servicekit import tokens

FAMILY = "fam-1"


def default_preferences() -> list[dict]:
    return [
        {"kind": "cart_validated", "label": "Confirmation de vos réservations", "optional": True, "enabled": True},
        {"kind": "request_decided", "label": "Réponse à vos demandes", "optional": True, "enabled": True},
        {"kind": "password_reset", "label": "Réinitialisation du mot de passe", "optional": False, "enabled": True},
    ]


def problem(status: int, detail: str):
    body = {"type": "about:blank", "title": "Refus", "status": status, "detail": detail}
    return Response(json.dumps(body), status=status, content_type="application/problem+json")


@dataclass
class FakeNotify:
    secret: str
    preferences: list = field(default_factory=default_preferences)
    puts: list = field(default_factory=list)       # the bodies of PUT /internal/me/preferences
    addresses: list = field(default_factory=list)  # UndeliverableAddress rows, all communes
    households: int = 0                            # identity household reads served

    def caller(self, audience: str) -> tokens.Caller:
        return tokens.verify(request.headers.get("Authorization", "").removeprefix("Bearer "), audience, self.secret)


def make_app(fake: FakeNotify) -> Flask:
    app = Flask("fake-notify")

    @app.get("/internal/me/household")
    def household():
        caller = fake.caller("identity")
        assert caller.role == "parent" and caller.family_id, caller
        fake.households += 1
        return jsonify({"family": {"id": caller.family_id, "name": "Martin", "login_email": "p@example.org"},
                        "communes": [], "guardians": [], "children": []})

    @app.get("/internal/me/preferences")
    def get_preferences():
        fake.caller("notify")
        return jsonify({"items": fake.preferences})

    @app.put("/internal/me/preferences")
    def put_preferences():
        fake.caller("notify")
        body = request.get_json()
        fake.puts.append(body)
        by_kind = {p["kind"]: p for p in fake.preferences}
        for item in body["items"]:
            pref = by_kind.get(item["kind"])
            if pref is None or not pref["optional"]:
                return problem(422, "Ce type d'e-mail ne peut pas être désactivé.")
            pref["enabled"] = item["enabled"]
        return jsonify({"items": fake.preferences})

    @app.get("/internal/undeliverable-addresses")
    def undeliverable():
        caller = fake.caller("notify")
        assert caller.role in ("agent", "admin") and caller.commune, caller
        return jsonify({"items": [a for a in fake.addresses if a["commune"] == caller.commune]})

    return app
