"""Telling the catcher to refuse mail, to test how senders cope with a failing SMTP server.

    POST /refusals {"mode": "temporary" | "permanent", "count": 3, "recipients": ["a@example.org"]}

refuses the next `count` recipients (every one while `count` is null or absent) at RCPT time:
`temporary` answers 451 (4xx: the sender should try again later), `permanent` answers 550
(5xx: the address is undeliverable). With `recipients`, only those addresses are refused (case
does not matter). `DELETE /refusals` stops refusing; `GET /refusals` shows the rule in force and
how many recipients it refused. Refused recipients are not caught (nothing is stored).
"""
from __future__ import annotations

import threading
from dataclasses import dataclass

MODES = {
    "temporary": "451 4.3.0 Mail catcher told to refuse for now: try again later",
    "permanent": "550 5.1.1 Mail catcher told to refuse: mailbox unavailable",
}
MAX_COUNT = 1_000_000


class InvalidRule(ValueError):
    pass


@dataclass
class Rule:
    mode: str
    remaining: int | None            # None: until told otherwise
    recipients: frozenset[str] | None

    @classmethod
    def parse(cls, body) -> "Rule":
        if not isinstance(body, dict):
            raise InvalidRule("the body must be a JSON object")
        unknown = set(body) - {"mode", "count", "recipients"}
        if unknown:
            raise InvalidRule(f"unknown field(s): {', '.join(sorted(unknown))}")
        mode = body.get("mode")
        if mode not in MODES:
            raise InvalidRule("mode must be 'temporary' or 'permanent'")
        count = body.get("count")
        if count is not None and (not isinstance(count, int) or isinstance(count, bool) or not 1 <= count <= MAX_COUNT):
            raise InvalidRule(f"count must be an integer from 1 to {MAX_COUNT}, or null (until told otherwise)")
        recipients = body.get("recipients")
        if recipients is not None:
            if not isinstance(recipients, list) or not recipients or not all(
                    isinstance(r, str) and "@" in r and len(r) <= 320 for r in recipients):
                raise InvalidRule("recipients must be a non-empty list of e-mail addresses")
            recipients = frozenset(r.strip().lower() for r in recipients)
        return cls(mode, count, recipients)


class Refusals:
    """The rule in force (at most one), shared by the SMTP handler and the HTTP API."""

    def __init__(self):
        self._lock = threading.Lock()
        self._rule: Rule | None = None
        self.refused = 0            # recipients refused since start

    def set(self, rule: Rule) -> dict:
        with self._lock:
            self._rule = rule
            return self._state()

    def clear(self) -> dict:
        with self._lock:
            self._rule = None
            return self._state()

    def state(self) -> dict:
        with self._lock:
            return self._state()

    def _state(self) -> dict:
        rule = self._rule
        return {
            "active": rule is not None,
            "mode": rule.mode if rule else None,
            "remaining": rule.remaining if rule else None,
            "recipients": sorted(rule.recipients) if rule and rule.recipients else None,
            "refused": self.refused,
        }

    def answer_for(self, address: str) -> str | None:
        """The SMTP reply refusing `address`, or None to accept it (counts the refusal)."""
        with self._lock:
            rule = self._rule
            if rule is None or (rule.recipients is not None and address.strip().lower() not in rule.recipients):
                return None
            self.refused += 1
            if rule.remaining is not None:
                rule.remaining -= 1
                if rule.remaining <= 0:
                    self._rule = None
            return MODES[rule.mode]
