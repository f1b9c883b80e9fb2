"""Before an enrolment: is the child's dossier complete?

A commune can require documents (health form, insurance…) before a child's enrolment in a
service. The documents, their validity and the commune's requirements belong to the requests
service: booking asks it, at the moment of the enrolment, `GET /internal/dossier-status` as the
platform (role `system`, servicekit.clients), and refuses the enrolment while documents are
missing or expired, naming them (requests' own French messages).

Why a synchronous call and not a projection fed by events: validity is a matter of today's date
(a proof of residence expires after 3 months, a health form with the school year) and of rules
requests owns; a projection would have to copy those rules and the documents' dates, and would
answer from a copy that lags behind the upload the parent just made. An enrolment is a rare,
agent-driven action: one HTTP call is cheap there.

Failure mode: fail closed. The requirement is a rule the commune set; if requests does not
answer (down, slow, failing, refusing booking's token, or not knowing the question), no
enrolment is written and the agent gets a 503 saying the dossier could not be checked — never
an enrolment the commune's rule would have refused.
"""
from __future__ import annotations

import logging
from dataclasses import dataclass
from functools import lru_cache

from servicekit.clients import InternalClient, Unreachable
from servicekit.problems import Problem

from booking.settings import SERVICE, get_settings

log = logging.getLogger(__name__)

PATH = "/internal/dossier-status"
UNAVAILABLE = ("Le dossier de l'enfant ne peut pas être vérifié pour le moment (service des demandes "
               "indisponible) : l'inscription n'est pas enregistrée. Réessayez dans quelques minutes.")


@dataclass(frozen=True)
class Dossier:
    """requests' answer for one child, family, commune and service."""
    family_id: str
    child_id: str
    service_id: str
    commune: str
    complete: bool
    missing: tuple[dict, ...] = ()


@lru_cache
def _client() -> InternalClient:
    settings = get_settings()
    return InternalClient(settings.requests_url, "requests", settings.service_token_secret, SERVICE,
                          read_timeout=settings.dossier_check_timeout_seconds)


def fetch(family_id: str, commune: str, service_id: str, child_id: str) -> Dossier:
    """requests' answer (blocking: call it off the event loop, outside any transaction); a 503
    Problem when it gives none."""
    params = {"service_id": service_id, "child_id": child_id, "family_id": family_id, "commune": commune}
    try:
        status, body = _client().get(PATH, params=params)
    except Unreachable:
        raise Problem(503, UNAVAILABLE) from None
    if status != 200 or not isinstance(body, dict) or not isinstance(body.get("complete"), bool):
        log.warning("requests answered %s to the dossier check of child %s: %s", status, child_id, body)
        raise Problem(503, UNAVAILABLE)
    return Dossier(family_id, child_id, service_id, commune, body["complete"],
                   tuple(m for m in body.get("missing") or () if isinstance(m, dict)))


def refusal(dossier: Dossier, child_name: str, service_label: str) -> Problem:
    """The 422 an incomplete dossier gets: each missing or expired document named."""
    reasons = " ".join(m.get("message") or f"« {m.get('label') or m.get('doc_type')} » est à fournir."
                       for m in dossier.missing)
    detail = (f"Inscription refusée : le dossier de {child_name} est incomplet pour « {service_label} ». "
              f"{reasons} La famille peut les déposer dans son espace (Mes demandes).")
    missing = [{"doc_type": m.get("doc_type"), "label": m.get("label"), "reason": m.get("reason")}
               for m in dossier.missing]
    return Problem(422, detail, missing=missing)
