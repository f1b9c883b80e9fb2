"""`python -m demandes seed-demo`: Heillecourt's document types, request categories (the common
ones: authorised pick-up, change of address, alternate address of a child, enrolment in a
service, justification of an absence, quotient familial update, other) and reply templates,
plus identity's demo family and children in the local projections (fixed ids, also announced by
identity's events, which arrive later and find the same rows). Idempotent."""
from __future__ import annotations

import sys
import uuid
from datetime import datetime, timezone

import sqlalchemy as sa
from sqlalchemy.orm import Session

from servicekit.types import utcnow

from demandes.db import get_db
from demandes.domain import effects
from demandes.domain.documents import check_document_type
from demandes.domain.forms import check_fields
from demandes.models import categories, children, document_types, enrolment_requirements, families, reply_templates
from demandes.settings import get_settings

COMMUNE = "heillecourt"
NAMESPACE = uuid.UUID("0f3c2a4e-51d7-4c1e-9b0e-6d2f8a7c5e31")
MB = 1024 * 1024
DEMO_FAMILY_ID = "00000000-0000-4000-8000-00000000f001"
DEMO_CHILDREN = (("00000000-0000-4000-8000-00000000c001", "Léa"), ("00000000-0000-4000-8000-00000000c002", "Hugo"))

DOCUMENT_TYPES = (
    {"code": "justificatif_domicile", "label": "Justificatif de domicile de moins de 3 mois",
     "formats": ["pdf", "jpeg", "png"], "max_bytes": 5 * MB, "validity": "months_3"},
    {"code": "attestation_caf", "label": "Attestation de quotient familial CAF de l'année",
     "formats": ["pdf", "jpeg", "png"], "max_bytes": 5 * MB, "validity": "calendar_year"},
    {"code": "certificat_medical", "label": "Certificat médical", "formats": ["pdf", "jpeg", "png"],
     "max_bytes": 5 * MB, "per_child": True},
    {"code": "piece_identite", "label": "Pièce d'identité de la personne autorisée",
     "formats": ["pdf", "jpeg", "png"], "max_bytes": 5 * MB},
    {"code": "jugement_residence", "label": "Jugement ou convention de résidence alternée",
     "formats": ["pdf"], "max_bytes": 10 * MB},
    {"code": "fiche_sanitaire", "label": "Fiche sanitaire de liaison", "formats": ["pdf", "jpeg", "png"],
     "max_bytes": 5 * MB, "validity": "school_year", "per_child": True},
    {"code": "assurance", "label": "Attestation d'assurance extrascolaire", "formats": ["pdf", "jpeg", "png"],
     "max_bytes": 5 * MB, "validity": "school_year"},
)


def _f(key, label, ftype, required=True, **extra):
    return {"key": key, "label": label, "type": ftype, "required": required, **extra}


ADDRESS = [_f("street", "Numéro et rue", "text", max_length=200), _f("postcode", "Code postal", "postcode"),
           _f("city", "Commune", "text", max_length=100)]

CATEGORIES = (
    {"code": "autorisation_recuperation", "label": "Autorisation de récupération d'un enfant",
     "description": "Autoriser une personne à venir chercher votre enfant à la sortie d'un accueil.",
     "template": "Je souhaiterais autoriser … (nom, prénom, lien avec l'enfant) à venir récupérer mon enfant … "
                 "à partir du … .",
     "fields": [_f("child", "Enfant", "child"), _f("person_name", "Nom et prénom de la personne autorisée", "text"),
                _f("person_phone", "Téléphone de la personne autorisée", "phone"),
                _f("from_date", "À partir du", "date"), _f("until_date", "Jusqu'au (facultatif)", "date", False)],
     "documents": [{"doc_type": "piece_identite", "required": True}]},
    {"code": "changement_adresse", "label": "Changement d'adresse", "effect": effects.ADDRESS_CHANGE,
     "description": "Votre nouvelle adresse est enregistrée dans votre compte dès que la mairie accepte la demande.",
     "fields": [*ADDRESS, _f("moving_date", "Date du déménagement", "date")],
     "documents": [{"doc_type": "justificatif_domicile", "required": True}]},
    {"code": "adresse_alternee", "label": "Adresse alternée d'un enfant", "effect": effects.ALTERNATE_ADDRESS,
     "description": "La seconde adresse d'un enfant en résidence alternée.",
     "fields": [_f("child", "Enfant", "child"), *ADDRESS],
     "documents": [{"doc_type": "jugement_residence", "required": True}]},
    {"code": "inscription_service", "label": "Inscription à un service",
     "fields": [_f("child", "Enfant", "child"),
                _f("service", "Service", "choice", options=["Restauration scolaire", "Accueil périscolaire",
                                                            "Accueil de loisirs du mercredi",
                                                            "Accueil de loisirs des vacances"]),
                _f("start_date", "À partir du", "date"), _f("comment", "Précisions", "textarea", False)],
     "documents": [{"doc_type": "fiche_sanitaire", "required": True}, {"doc_type": "assurance", "required": False}]},
    {"code": "justification_absence", "label": "Justification d'absence", "effect": effects.ABSENCE_JUSTIFICATION,
     "description": "Une absence justifiée (certificat médical sous 48 heures) n'est pas facturée.",
     "fields": [_f("child", "Enfant", "child"), _f("first_day", "Premier jour d'absence", "date"),
                _f("last_day", "Dernier jour d'absence", "date"),
                _f("reason", "Motif", "choice", options=["Maladie", "Rendez-vous médical", "Autre"])],
     "documents": [{"doc_type": "certificat_medical", "required": True}]},
    {"code": "mise_a_jour_qf", "label": "Mise à jour du quotient familial", "effect": effects.QUOTIENT_UPDATE,
     "description": "Sans justificatif de quotient familial, la tranche la plus haute s'applique.",
     "fields": [_f("quotient", "Quotient familial (en euros)", "number"),
                _f("allocataire", "Numéro d'allocataire CAF", "text", False)],
     "documents": [{"doc_type": "attestation_caf", "required": True}]},
    {"code": "autre", "label": "Autre demande",
     "fields": [_f("subject", "Objet", "text"), _f("message", "Votre demande", "textarea")], "documents": []},
)

REPLY_TEMPLATES = (
    ("Demande acceptée", "Bonjour,\n\nVotre demande a été acceptée. Elle est prise en compte dès aujourd'hui.\n\n"
                         "Le service Enfance"),
    ("Justificatif illisible", "Bonjour,\n\nLe justificatif joint est illisible. Merci de renvoyer une demande avec "
                               "un document net et complet.\n\nLe service Enfance"),
    ("Justificatif trop ancien", "Bonjour,\n\nLe justificatif de domicile doit dater de moins de 3 mois. Merci de "
                                 "renvoyer une demande avec un document récent.\n\nLe service Enfance"),
)


# Documents Heillecourt requires before a child's enrolment, per booking service (code): the
# holiday centre asks for the health form and the insurance. Booking's demo services have fixed
# ids (booking.seed.stable_id: uuid5 of booking's namespace and "commune:service:code").
BOOKING_NAMESPACE = uuid.UUID("5b0c6f58-3a4e-4d2b-9a51-3f7d0e2c1b10")
ENROLMENT_REQUIREMENTS = {"alsh-vacances": ("fiche_sanitaire", "assurance")}


def stable_id(*parts: str) -> str:
    return str(uuid.uuid5(NAMESPACE, ":".join(parts)))


def booking_service_id(commune: str, code: str) -> str:
    return str(uuid.uuid5(BOOKING_NAMESPACE, f"{commune}:service:{code}"))


def seed_demo(session: Session, commune: str = COMMUNE) -> int:
    """Returns how many categories were created."""
    now = utcnow()
    for item in DOCUMENT_TYPES:
        if session.execute(sa.select(document_types.c.code).where(document_types.c.commune == commune,
                                                                  document_types.c.code == item["code"])).first():
            continue
        session.execute(document_types.insert().values(commune=commune, **check_document_type(item, 10 * MB),
                                                       created_at=now, updated_at=now))
    made = 0
    for position, item in enumerate(CATEGORIES):
        category_id = stable_id(commune, "category", item["code"])
        if session.execute(sa.select(categories.c.id).where(categories.c.id == category_id)).first():
            continue
        fields = check_fields(item["fields"])
        session.execute(categories.insert().values(
            id=category_id, commune=commune, code=item["code"], label=item["label"],
            description=item.get("description"), template=item.get("template"), fields=fields,
            documents=item["documents"], effect=effects.check_effect(item.get("effect"), fields), active=True,
            position=position, created_at=now, updated_at=now))
        made += 1
    for label, body in REPLY_TEMPLATES:
        template_id = stable_id(commune, "reply", label)
        if not session.execute(sa.select(reply_templates.c.id).where(reply_templates.c.id == template_id)).first():
            session.execute(reply_templates.insert().values(id=template_id, commune=commune, label=label, body=body,
                                                            created_at=now, updated_at=now))
    for code, doc_types in ENROLMENT_REQUIREMENTS.items():
        service_id = booking_service_id(commune, code)
        for doc_type in doc_types:
            if not session.execute(sa.select(enrolment_requirements.c.doc_type).where(
                    enrolment_requirements.c.commune == commune, enrolment_requirements.c.service_id == service_id,
                    enrolment_requirements.c.doc_type == doc_type)).first():
                session.execute(enrolment_requirements.insert().values(commune=commune, service_id=service_id,
                                                                       doc_type=doc_type))
    _seed_family(session, commune, now)
    return made


def _seed_family(session: Session, commune: str, now) -> None:
    if not session.execute(sa.select(families.c.family_id).where(families.c.family_id == DEMO_FAMILY_ID,
                                                                 families.c.commune == commune)).first():
        session.execute(families.insert().values(family_id=DEMO_FAMILY_ID, commune=commune, family_name="Martin",
                                                 status="active", updated_at=now))
    for child_id, given_name in DEMO_CHILDREN:
        if not session.execute(sa.select(children.c.child_id).where(children.c.child_id == child_id)).first():
            session.execute(children.insert().values(child_id=child_id, family_id=DEMO_FAMILY_ID,
                                                     given_name=given_name, family_name="Martin",
                                                     changed_at=datetime(2000, 1, 1, tzinfo=timezone.utc)))


def _run(_args) -> int:
    if get_settings().is_production:
        print("seed-demo refuses to run when EF_ENV=production", file=sys.stderr)
        return 2
    with get_db().transaction() as session:
        made = seed_demo(session)
    print(f"seed-demo: Heillecourt's request categories ({made} new), document types and reply templates")
    return 0


COMMANDS = {"seed-demo": ("Heillecourt's demo request categories, document types and reply templates",
                          lambda parser: None, _run)}
