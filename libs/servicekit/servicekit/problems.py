"""problem+json (RFC 9457): the one error vocabulary of every service API and the gateway.

`detail` is shown to people: write it in French. Titles are French, per status.
"""
from __future__ import annotations

import json
from typing import Any

PROBLEM_JSON = "application/problem+json"

_TITLES = {
    400: "Requête invalide",
    401: "Authentification requise",
    403: "Accès refusé",
    404: "Introuvable",
    405: "Méthode non autorisée",
    409: "Conflit",
    410: "Expiré",
    413: "Contenu trop volumineux",
    415: "Type de contenu non pris en charge",
    422: "Données invalides",
    429: "Trop de tentatives",
    500: "Erreur interne",
    502: "Service indisponible",
    503: "Service indisponible",
    504: "Service indisponible",
}


def title_for(status: int) -> str:
    return _TITLES.get(status, "Erreur")


class Problem(Exception):
    """An error a client can act on. `detail` is shown to people: write it in French."""

    def __init__(self, status: int, detail: str, title: str | None = None, type: str = "about:blank",
                 errors: dict[str, str] | None = None, **extra: Any):
        super().__init__(detail)
        self.status = status
        self.detail = detail
        self.title = title or title_for(status)
        self.type = type
        self.errors = errors
        self.extra = extra

    def body(self) -> dict:
        body = {"type": self.type, "title": self.title, "status": self.status, "detail": self.detail}
        if self.errors:
            body["errors"] = self.errors
        body.update(self.extra)
        return body


def dumps(body: dict) -> bytes:
    return json.dumps(body, ensure_ascii=False, default=str).encode()
