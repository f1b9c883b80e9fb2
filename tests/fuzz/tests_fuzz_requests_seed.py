"""What the requests service holds before fuzzing: commune A's demo catalogue (document types,
categories, reply templates), a document of the seeded family, a sent request and a draft, so
that half of the valid cases address real ids and their 200 answers are checked against the
spec (fuzzkit.Target.with_known_values)."""
from __future__ import annotations

from servicekit import tokens
from servicekit.db import Database


def seed_requests(target, people, commune: str) -> dict[str, list[str]]:
    from demandes import family_documents, flow, seed
    from demandes.family_documents import Incoming
    from demandes.models import categories, reply_templates
    from demandes.storage import FileStore

    import sqlalchemy as sa

    settings = target.app.settings
    parent = tokens.Caller(sub=people.parent_sub, role="parent", family_id=people.family_id)
    db = Database(target.database_url)
    try:
        with db.transaction() as s:
            seed.seed_demo(s, commune)
        today = family_documents.paris_today()
        with db.read() as s:
            ctx = family_documents.upload_context(s, parent, commune, "justificatif_domicile")
        pdf = b"%PDF-1.4\n1 0 obj << /Type /Catalog >> endobj\ntrailer << /Root 1 0 R >>\n%%EOF\n"
        prepared, issued = family_documents.inspect([Incoming("justificatif.pdf", pdf)], ctx, None, today, None,
                                                    settings.requests_max_file_bytes)
        keys = [FileStore(settings.storage_dir).put(p.content) for p in prepared]
        with db.transaction() as s:
            [document] = family_documents.record(s, parent, ctx, prepared, keys, issued)
            other = s.execute(sa.select(categories.c.id).where(categories.c.commune == commune,
                                                               categories.c.code == "autre")).scalar_one()
            sent = flow.create_request(s, parent, {"category_id": other, "data": {"subject": "Cantine",
                                                                                 "message": "Bonjour"},
                                                   "submit": True}, settings.public_url)
            draft = flow.create_request(s, parent, {"category_id": other, "data": {"subject": "Brouillon"},
                                                    "document_ids": [document["id"]]}, settings.public_url)
            category_ids = list(s.execute(sa.select(categories.c.id).where(categories.c.commune == commune)).scalars())
            template_ids = list(s.execute(sa.select(reply_templates.c.id)
                                          .where(reply_templates.c.commune == commune)).scalars())
    finally:
        db.dispose()
    return {"request_id": [sent["id"], draft["id"]], "document_id": [document["id"]], "category_id": category_ids,
            "template_id": template_ids, "code": ["justificatif_domicile", "attestation_caf"],
            "service_id": ["cantine"]}
