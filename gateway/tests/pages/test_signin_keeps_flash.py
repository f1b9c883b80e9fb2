"""The activation's "Votre compte est activé" is flashed before sign-in and shown after it."""
from __future__ import annotations

from flask import flash, get_flashed_messages, session

from gateway import auth


def test_sign_in_keeps_messages_flashed_before_it_but_nothing_else(gateway):
    with gateway.test_request_context("/auth/callback"):
        session["login_next"] = "/famille"
        session["user"] = {"sub": "someone-else"}
        flash("Votre compte est activé.", "success")
        auth.sign_in({"sub": "parent-1", "email": "p@example.org", "agent_of": []})
        assert session["user"]["sub"] == "parent-1"
        assert "login_next" not in session
        assert get_flashed_messages(with_categories=True) == [("success", "Votre compte est activé.")]
