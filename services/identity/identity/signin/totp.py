"""TOTP second factor (RFC 6238, pyotp): who needs it, enrolment, verification without replay."""
from __future__ import annotations

import hmac

import pyotp
from sqlalchemy.orm import Session

from identity.models import User
from identity.signin import clock
from identity.signin.models import TotpUse

ISSUER = "Espace Famille"
# Accept the previous and next 30-second step too: phones' clocks drift.
VALID_WINDOW = 1


def required(user: User) -> bool:
    """Agents (any commune assignment) and platform operators must use a second factor;
    anyone who enrolled keeps using it."""
    return bool(user.totp_enabled or user.assignments or user.platform_role == "operator")


def new_secret() -> str:
    return pyotp.random_base32()  # 160 bits, as RFC 4226 recommends


def provisioning_uri(secret: str, email: str) -> str:
    return pyotp.TOTP(secret).provisioning_uri(name=email, issuer_name=ISSUER)


def grouped(secret: str) -> str:
    """The secret in groups of four, easier to type into an app by hand."""
    return " ".join(secret[i:i + 4] for i in range(0, len(secret), 4))


def matching_step(secret: str, code: str) -> int | None:
    """The time step whose code equals `code` within the allowed window, or None."""
    code = "".join(code.split())
    totp = pyotp.TOTP(secret)
    current_step = totp.timecode(clock.now())
    for step in range(current_step - VALID_WINDOW, current_step + VALID_WINDOW + 1):
        if hmac.compare_digest(totp.generate_otp(step), code):
            return step
    return None


def verify(db_session: Session, user: User, code: str) -> bool:
    """True if `code` is valid for `user` now and was not used before (each step counts once)."""
    if not user.totp_secret:
        return False
    step = matching_step(user.totp_secret, code)
    if step is None:
        return False
    used = db_session.get(TotpUse, user.id, with_for_update=True)
    if used is not None and step <= used.last_step:
        return False  # replayed (or older than a code already accepted)
    if used is None:
        db_session.add(TotpUse(user_id=user.id, last_step=step))
    else:
        used.last_step = step
    return True
