"""Failures as French pages for browsers and problem+json under /api/ (never a stack trace)."""
from __future__ import annotations

import logging

from flask import Flask, render_template, request
from flask_wtf.csrf import CSRFError
from werkzeug.exceptions import HTTPException

from servicekit.web import Problem, problem_response

from gateway.clients import ServiceError

log = logging.getLogger(__name__)

# status -> (page title, what to tell the visitor)
PAGES = {
    400: ("Demande invalide", "Votre demande n'a pas pu être comprise. Vérifiez le lien ou le formulaire et réessayez."),
    401: ("Connexion requise", "Connectez-vous pour accéder à cette page."),
    403: ("Accès refusé", "Vous n'avez pas accès à cette page. Si vous pensez que c'est une erreur, contactez votre commune."),
    404: ("Page introuvable", "La page que vous cherchez n'existe pas ou a été déplacée."),
    405: ("Action impossible", "Cette action n'est pas possible à cette adresse."),
    410: ("Lien expiré", "Ce lien n'est plus valable."),
    413: ("Fichier trop volumineux", "Le fichier envoyé est trop volumineux."),
    429: ("Trop de tentatives", "Vous avez fait trop de tentatives. Patientez quelques minutes puis réessayez."),
    500: ("Erreur technique", "Une erreur inattendue est survenue. Réessayez plus tard ; si le problème persiste, contactez votre commune."),
    503: ("Service momentanément indisponible", "Le service est momentanément indisponible. Réessayez dans quelques minutes."),
}


def wants_problem() -> bool:
    return request.path.startswith("/api/")


def render_error(status: int, detail: str | None = None):
    title, message = PAGES.get(status, PAGES[500] if status >= 500 else PAGES[400])
    if wants_problem():
        return problem_response(status, detail or message)
    return render_template("errors/error.html", status=status, title=title,
                           message=detail or message), status


def install(flask_app: Flask) -> None:
    @flask_app.errorhandler(ServiceError)
    def _on_service_error(exc: ServiceError):
        if wants_problem():
            return problem_response(exc.status, exc.detail, errors=exc.errors or None)
        # The remote detail is French and meant for people; 503 keeps the generic wording.
        return render_error(exc.status, None if exc.status >= 500 else exc.detail)

    @flask_app.errorhandler(Problem)
    def _on_problem(p: Problem):
        if wants_problem():
            return problem_response(p.status, p.detail, title=p.title, errors=p.errors)
        return render_error(p.status, p.detail)

    @flask_app.errorhandler(CSRFError)
    def _on_csrf(exc: CSRFError):
        return render_error(400, "Le formulaire a expiré ou ne vient pas de ce site. Rechargez la page et réessayez.")

    @flask_app.errorhandler(HTTPException)
    def _on_http(exc: HTTPException):
        response = flask_app.make_response(render_error(exc.code or 500))
        # Keep the exception's own headers: `Allow` on a 405 is required (RFC 9110).
        for name, value in exc.get_headers():
            if name.lower() != "content-type":
                response.headers[name] = value
        return response

    @flask_app.errorhandler(Exception)
    def _on_unexpected(exc: Exception):
        log.exception("unhandled error")
        return render_error(500)
