"""What the account use cases can refuse, independent of HTTP (api.py maps them to problems).

Every message is French: it reaches parents and agents as is.
"""
from __future__ import annotations


class AccountError(Exception):
    status = 400

    def __init__(self, detail: str, **extra):
        super().__init__(detail)
        self.detail = detail
        self.extra = extra


class InvalidInput(AccountError):
    status = 422

    def __init__(self, errors: dict[str, str], detail: str = "Certaines informations sont à corriger."):
        super().__init__(detail)
        self.errors = errors


class NotAllowed(AccountError):
    status = 403


class NotFound(AccountError):
    status = 404


class Conflict(AccountError):
    status = 409


class DeadLink(AccountError):
    """An expired, used or superseded link (`state` says which)."""

    status = 410

    def __init__(self, detail: str, state: str):
        super().__init__(detail, state=state)
        self.state = state
