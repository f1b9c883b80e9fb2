"""A fake of the requests service's parent API (services/requests/demandes/openapi.yaml,
/internal/me/* and /internal/documents/{id}/content) for the "Mes demandes" pages' tests: same
paths, same JSON shapes and problem+json refusals, tenancy by the service token's family.

It checks what the gateway sends: a valid service token for role `parent`, the multipart
upload (field `file`, commune, doc_type) and the Idempotency-Key of a new request (the same key
answers the same, as the service does). Tests set `refuse_upload` to make the next upload fail.
"""
from __future__ import annotations

import itertools
import uuid
from dataclasses import dataclass, field

from flask import Flask, Response, jsonify, request

from servicekit import tokens

FAMILY, OTHER_FAMILY = "fam-1", "fam-2"
COMMUNE = "heillecourt"
LEA = "child-lea"
PICKUP = "cat-pickup"
ID_CARD = "piece_identite"
PDF = b"%PDF-1.4\n1 0 obj<<>>endobj\ntrailer<<>>\n%%EOF\n"
LABELS = {"brouillon": "Brouillon", "envoyee": "Envoyée", "en_cours": "En cours de traitement",
          "acceptee": "Acceptée", "refusee": "Refusée"}

CATEGORY = {
    "id": PICKUP, "commune": COMMUNE, "code": "autorisation_recuperation",
    "label": "Autorisation de récupération d'un enfant",
    "description": "Autoriser une personne à venir chercher votre enfant.",
    "template": "Je souhaiterais autoriser … à venir récupérer mon enfant … à partir du … .",
    "fields": [{"key": "child", "label": "Enfant", "type": "child", "required": True},
               {"key": "person_name", "label": "Nom et prénom de la personne autorisée", "type": "text",
                "required": True},
               {"key": "from_date", "label": "À partir du", "type": "date", "required": True}],
    "documents": [{"doc_type": ID_CARD, "label": "Pièce d'identité de la personne autorisée", "required": True,
                   "formats": ["pdf", "jpeg", "png"], "max_bytes": 5 * 1024 * 1024, "validity": "none"}],
    "effect": None, "active": True, "position": 1,
}


def problem(status: int, detail: str, errors: dict | None = None):
    body = {"type": "about:blank", "title": "Refus", "status": status, "detail": detail}
    if errors:
        body["errors"] = errors
    return Response(__import__("json").dumps(body), status=status, content_type="application/problem+json")


@dataclass
class FakeRequests:
    secret: str
    requests: dict = field(default_factory=dict)
    documents: dict = field(default_factory=dict)
    contents: dict = field(default_factory=dict)
    idempotency: dict = field(default_factory=dict)
    refuse_upload: tuple | None = None          # (status, detail) for the next upload
    uploads: list = field(default_factory=list)  # what the gateway sent: (form, [(filename, bytes)])
    queries: list = field(default_factory=list)  # the agents' queue filters received
    per_child: bool = False                      # whether the ID card is a document about one child
    numbers: itertools.count = field(default_factory=lambda: itertools.count(1))

    def token(self) -> tokens.Caller:
        return tokens.verify(request.headers.get("Authorization", "").removeprefix("Bearer "), "requests",
                             self.secret)

    def caller(self) -> tokens.Caller:
        caller = self.token()
        assert caller.role == "parent" and caller.family_id, caller
        return caller

    def agent(self) -> tokens.Caller:
        caller = self.token()
        assert caller.role in ("agent", "admin") and caller.commune, caller
        return caller

    # --- seeding -----------------------------------------------------------------------------------
    def add_document(self, family_id: str = FAMILY, name: str = "identite.pdf", valid: bool = True) -> str:
        doc_id = f"doc-{uuid.uuid4().hex[:8]}"
        self.documents[doc_id] = {"id": doc_id, "family_id": family_id, "name": name, "doc_type": ID_CARD,
                                  "doc_type_label": CATEGORY["documents"][0]["label"], "format": "pdf",
                                  "size": len(PDF), "child_id": None, "issued_on": "2026-11-30",
                                  "expires_on": None, "valid": valid, "uploaded_at": "2026-11-30T09:00:00Z",
                                  "content_path": f"/internal/documents/{doc_id}/content"}
        self.contents[doc_id] = PDF
        return doc_id

    def add_request(self, family_id: str = FAMILY, status: str = "envoyee", message: str | None = None) -> str:
        request_id = str(uuid.uuid4())
        doc = self.add_document(family_id)
        self.requests[request_id] = {
            "id": request_id, "family_id": family_id, "reference": None if status == "brouillon" else
            f"D-2026-{next(self.numbers):05d}", "commune": COMMUNE, "category_id": PICKUP,
            "category_label": CATEGORY["label"], "status": status, "data": {"child": LEA, "person_name": "Jean Dupont",
                                                                           "from_date": "2026-12-07"},
            "text": "Je souhaiterais autoriser Jean Dupont.", "document_ids": [doc], "decision_message": message,
            "created_at": "2026-12-01T09:00:00Z", "updated_at": "2026-12-01T10:00:00Z",
            "submitted_at": None if status == "brouillon" else "2026-12-01T10:00:00Z", "decided_at": None,
            "history": [{"at": "2026-12-01T10:00:00Z", "from_status": "brouillon", "to_status": status,
                         "status_label": LABELS[status], "by": "parent", "message": message}]}
        return request_id

    # --- shapes ------------------------------------------------------------------------------------
    def summary(self, r: dict) -> dict:
        return {k: r[k] for k in ("id", "reference", "commune", "category_id", "category_label", "status",
                                  "created_at", "updated_at", "submitted_at", "decided_at")} | {
            "status_label": LABELS[r["status"]]}

    def detail(self, r: dict) -> dict:
        return self.summary(r) | {"data": r["data"], "text": r["text"], "decision_message": r["decision_message"],
                                  "category": CATEGORY, "history": r["history"],
                                  "documents": [self.public(self.documents[d]) for d in r["document_ids"]]}

    @staticmethod
    def public(doc: dict) -> dict:
        return {k: v for k, v in doc.items() if k != "family_id"}

    def own_request(self, request_id: str) -> dict | None:
        r = self.requests.get(request_id)
        return r if r and r["family_id"] == self.caller().family_id else None

    def check(self, body: dict, complete: bool) -> dict:
        errors = {}
        data = body.get("data") or {}
        for key in data:
            if key not in {f["key"] for f in CATEGORY["fields"]}:
                errors[key] = "Ce champ n'existe pas dans ce formulaire."
        if data.get("child") not in (None, LEA):
            errors["child"] = "Cet enfant n'est pas dans votre famille."
        if complete:
            for f in CATEGORY["fields"]:
                if f["required"] and not data.get(f["key"]):
                    errors[f["key"]] = f"« {f['label']} » est obligatoire."
            if not body.get("text"):
                errors["text"] = "Complétez le texte de la demande."
            if not any(self.documents[d]["doc_type"] == ID_CARD for d in body.get("document_ids") or []):
                errors[f"documents.{ID_CARD}"] = "Joignez : Pièce d'identité de la personne autorisée."
        return errors

    def save(self, r: dict, body: dict) -> Response | None:
        for doc_id in body.get("document_ids") or []:
            doc = self.documents.get(doc_id)
            if doc is None or doc["family_id"] != self.caller().family_id:
                return problem(404, "Ce document est introuvable dans vos documents pour cette commune.")
        errors = self.check(body, complete=False)
        if errors:
            return problem(422, "Certaines réponses sont invalides.", errors)
        r.update(data=body.get("data") or {}, text=body.get("text"), document_ids=list(body.get("document_ids") or []))
        return None

    def submit(self, r: dict) -> Response | None:
        errors = self.check({"data": r["data"], "text": r["text"], "document_ids": r["document_ids"]}, complete=True)
        if errors:
            return problem(422, "La demande est incomplète.", errors)
        r.update(status="envoyee", reference=f"D-2026-{next(self.numbers):05d}", submitted_at="2026-12-01T11:00:00Z")
        r["history"].append({"at": "2026-12-01T11:00:00Z", "from_status": "brouillon", "to_status": "envoyee",
                             "status_label": "Envoyée", "by": "parent", "message": None})
        return None


def make_app(fake: FakeRequests) -> Flask:
    app = Flask("fake-requests")

    @app.get("/internal/me/categories")
    def categories():
        fake.caller()
        return jsonify({"items": [CATEGORY], "children": [
            {"child_id": LEA, "given_name": "Léa", "family_name": "Martin"}]})

    @app.get("/internal/me/document-types")
    def document_types():
        fake.caller()
        assert request.args.get("commune") == COMMUNE
        return jsonify({"items": [{"code": ID_CARD, "label": CATEGORY["documents"][0]["label"],
                                   "formats": ["pdf", "jpeg", "png"], "formats_label": "PDF, JPEG ou PNG",
                                   "max_bytes": 5 * 1024 * 1024, "validity": "none", "per_child": fake.per_child}]})

    @app.get("/internal/me/documents")
    def documents():
        family = fake.caller().family_id
        assert request.args.get("commune") == COMMUNE
        items = [fake.public(d) for d in fake.documents.values() if d["family_id"] == family
                 and d["doc_type"] == request.args.get("doc_type", d["doc_type"])
                 and (d["valid"] or request.args.get("valid_only") != "true")]
        return jsonify({"items": items})

    @app.post("/internal/me/documents")
    def upload():
        family = fake.caller().family_id
        files = [(f.filename, f.read()) for f in request.files.getlist("file")]
        fake.uploads.append((dict(request.form), files))
        if fake.refuse_upload:
            (status, detail), fake.refuse_upload = fake.refuse_upload, None
            return problem(status, detail)
        if not files or request.form.get("commune") != COMMUNE or request.form.get("doc_type") != ID_CARD:
            return problem(400, "Requête invalide.")
        items = []
        for name, content in files:
            doc_id = fake.add_document(family, name)
            fake.contents[doc_id] = content
            items.append(fake.public(fake.documents[doc_id]))
        return jsonify({"items": items}), 201

    @app.get("/internal/documents/<doc_id>/content")
    def content(doc_id):
        doc, caller = fake.documents.get(doc_id), fake.token()
        allowed = doc is not None and (doc["family_id"] == caller.family_id if caller.role == "parent"
                                       else caller.commune == COMMUNE)
        if not allowed:
            return problem(404, "Ce document est introuvable.")
        return Response(fake.contents[doc_id], content_type="application/pdf", headers={
            "Content-Disposition": f'attachment; filename="{doc["name"]}"', "X-Content-Type-Options": "nosniff"})

    @app.get("/internal/me/requests")
    def listing():
        family = fake.caller().family_id
        mine = [fake.summary(r) for r in fake.requests.values() if r["family_id"] == family]
        page, per_page = int(request.args.get("page", 1)), int(request.args.get("per_page", 25))
        return jsonify({"items": mine[(page - 1) * per_page: page * per_page], "total": len(mine), "page": page,
                        "per_page": per_page})

    @app.post("/internal/me/requests")
    def create():
        caller = fake.caller()
        key = request.headers.get("Idempotency-Key")
        assert key, "a new request carries an Idempotency-Key"
        if key in fake.idempotency:
            return jsonify(fake.idempotency[key]), 201
        body = request.get_json()
        assert body["category_id"] == PICKUP
        r = {"id": str(uuid.uuid4()), "family_id": caller.family_id, "reference": None, "commune": COMMUNE,
             "category_id": PICKUP, "category_label": CATEGORY["label"], "status": "brouillon", "data": {},
             "text": None, "document_ids": [], "decision_message": None, "created_at": "2026-12-01T11:00:00Z",
             "updated_at": "2026-12-01T11:00:00Z", "submitted_at": None, "decided_at": None,
             "history": [{"at": "2026-12-01T11:00:00Z", "from_status": None, "to_status": "brouillon",
                          "status_label": "Brouillon", "by": "parent", "message": None}]}
        refused = fake.save(r, body) or (fake.submit(r) if body.get("submit") else None)
        if refused:
            return refused  # nothing kept, as the service's transaction
        fake.requests[r["id"]] = r
        fake.idempotency[key] = fake.detail(r)
        return jsonify(fake.detail(r)), 201

    @app.route("/internal/me/requests/<request_id>", methods=["GET", "PUT", "DELETE"])
    def one(request_id):
        r = fake.own_request(request_id)
        if r is None:
            return problem(404, "Cette demande est introuvable.")
        if request.method == "GET":
            return jsonify(fake.detail(r))
        if r["status"] != "brouillon":
            return problem(409, "Cette demande est envoyée : elle ne peut plus être modifiée.")
        if request.method == "DELETE":
            del fake.requests[request_id]
            return "", 204
        return fake.save(r, request.get_json()) or jsonify(fake.detail(r))

    @app.post("/internal/me/requests/<request_id>/submit")
    def submit(request_id):
        r = fake.own_request(request_id)
        if r is None:
            return problem(404, "Cette demande est introuvable.")
        return fake.submit(r) or jsonify(fake.detail(r))

    # --- agents ------------------------------------------------------------------------------------
    def commune_request(request_id: str) -> dict | None:
        r = fake.requests.get(request_id)
        return r if r and r["commune"] == fake.agent().commune and r["status"] != "brouillon" else None

    def agent_summary(r: dict) -> dict:
        return fake.summary(r) | {"family_id": r["family_id"], "family_name": "Martin"}

    def queue_items() -> list[dict]:
        commune = fake.agent().commune
        items = [r for r in fake.requests.values() if r["commune"] == commune and r["status"] != "brouillon"]
        if request.args.get("status"):
            items = [r for r in items if r["status"] == request.args["status"]]
        if request.args.get("reference"):
            items = [r for r in items if request.args["reference"] in (r["reference"] or "")]
        fake.queries.append(dict(request.args))
        return items

    @app.get("/internal/agent/categories")
    def agent_categories():
        fake.agent()
        return jsonify({"items": [CATEGORY]})

    @app.get("/internal/agent/reply-templates")
    def agent_templates():
        fake.agent()
        return jsonify({"items": [{"id": "tpl-pieces", "label": "Pièce manquante",
                                   "body": "Il manque une pièce à votre demande.", "updated_at": None}]})

    @app.get("/internal/agent/requests")
    def agent_queue():
        items = [agent_summary(r) for r in queue_items()]
        return jsonify({"items": items, "total": len(items), "page": 1, "per_page": 50})

    @app.get("/internal/agent/requests/export.csv")
    def agent_export():
        rows = ["reference;famille;thematique;statut;envoyee_le;decidee_le;message"]
        rows += [f"{r['reference']};Martin;{r['category_label']};{LABELS[r['status']]};;;" for r in queue_items()]
        return Response("\r\n".join(rows) + "\r\n", content_type="text/csv; charset=utf-8")

    @app.post("/internal/agent/requests/bulk")
    def agent_bulk():
        fake.agent()
        body = request.get_json()
        results = []
        for rid in body["request_ids"]:
            r = commune_request(rid)
            if r is None or r["status"] != "envoyee":
                results.append({"id": rid, "ok": False, "error": "Cette demande ne peut pas être prise en charge."})
                continue
            r["status"] = body["status"]
            results.append({"id": rid, "ok": True, "status": r["status"]})
        return jsonify({"done": sum(1 for x in results if x["ok"]), "results": results})

    @app.get("/internal/agent/requests/<request_id>")
    def agent_get(request_id):
        r = commune_request(request_id)
        if r is None:
            return problem(404, "Cette demande est introuvable.")
        return jsonify(fake.detail(r) | {"family_id": r["family_id"], "family_name": "Martin"})

    @app.post("/internal/agent/requests/<request_id>/decision")
    def agent_decide(request_id):
        r = commune_request(request_id)
        if r is None:
            return problem(404, "Cette demande est introuvable.")
        body = request.get_json()
        if r["status"] in ("acceptee", "refusee"):
            return problem(409, "Cette demande est déjà traitée.")
        message = body.get("message")
        if body.get("reply_template_id") == "tpl-pieces":
            message = "Il manque une pièce à votre demande."
        if body["status"] == "refusee" and not message:
            return problem(422, "Un refus doit être expliqué.", {"message": "Expliquez le refus à la famille."})
        r.update(status=body["status"], decision_message=message if body["status"] != "en_cours" else None)
        r["history"].append({"at": "2026-12-02T09:00:00Z", "from_status": "envoyee", "to_status": body["status"],
                             "status_label": LABELS[body["status"]], "by": "agent", "message": message})
        return jsonify(fake.detail(r))

    return app
