"""A stand-in for the requests service's `GET /internal/dossier-status`, served over real HTTP on
loopback, so that booking's integration tests exercise booking's real client (token, timeouts,
failure mode) without the whole requests service. It checks the service token as requests
does (audience `requests`, role `system`) and answers requests' documented shape (openapi
`Dossier`). The cross-service test with the real requests app is
tests/integration/test_enrolment_dossier.py.

Tests set what a commune requires and what a family holds:

    standin.require(commune, service_id, ("fiche_sanitaire", "Fiche sanitaire de liaison"))
    standin.hold(family_id, "fiche_sanitaire", expired=True)
    standin.down = True   # every answer a 503
"""
from __future__ import annotations

import json
import threading
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qs, urlsplit

from servicekit import tokens


@dataclass
class RequestsStandIn:
    secret: str
    url: str = ""
    down: bool = False
    requirements: dict = field(default_factory=dict)  # (commune, service_id) -> [(doc_type, label)]
    held: dict = field(default_factory=dict)          # family_id -> {doc_type: expired}
    asked: list = field(default_factory=list)         # (caller, query) of every call

    def require(self, commune: str, service_id: str, *types: tuple[str, str]) -> None:
        self.requirements[(commune, service_id)] = list(types)

    def hold(self, family_id: str, doc_type: str, expired: bool = False) -> None:
        self.held.setdefault(family_id, {})[doc_type] = expired

    def answer(self, query: dict) -> dict:
        required = self.requirements.get((query.get("commune"), query.get("service_id")), [])
        held = self.held.get(query.get("family_id"), {})
        missing = []
        for code, label in required:
            if code not in held:
                missing.append({"doc_type": code, "label": label, "reason": "missing",
                                "message": f"« {label} » est à fournir."})
            elif held[code]:
                missing.append({"doc_type": code, "label": label, "reason": "expired",
                                "message": f"« {label} » n'est plus valable : ajoutez un document "
                                           "de l'année scolaire en cours."})
        return {**{k: query.get(k) for k in ("family_id", "child_id", "service_id", "commune")},
                "complete": not missing, "required": [{"doc_type": c, "label": lb} for c, lb in required],
                "missing": missing}


def serve(standin: RequestsStandIn) -> ThreadingHTTPServer:
    class Handler(BaseHTTPRequestHandler):
        def do_GET(self):  # noqa: N802
            parts = urlsplit(self.path)
            query = {k: v[0] for k, v in parse_qs(parts.query).items()}
            try:
                caller = tokens.verify(self.headers.get("Authorization", "").removeprefix("Bearer "), "requests",
                                       standin.secret)
            except tokens.InvalidToken:
                return self.reply(401, {"detail": "Jeton de service manquant ou invalide."})
            standin.asked.append((caller, query))
            if standin.down:
                return self.reply(503, {"detail": "Service indisponible"})
            if parts.path != "/internal/dossier-status" or caller.role != "system":
                return self.reply(404, {"detail": "Introuvable"})
            return self.reply(200, standin.answer(query))

        def reply(self, status: int, body: dict) -> None:
            data = json.dumps(body, ensure_ascii=False).encode()
            self.send_response(status)
            self.send_header("Content-Type", "application/json" if status < 400 else "application/problem+json")
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)

        def log_message(self, *args):
            pass

    httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    standin.url = f"http://127.0.0.1:{httpd.server_address[1]}"
    threading.Thread(target=httpd.serve_forever, daemon=True).start()
    return httpd
