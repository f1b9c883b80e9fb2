"""The SMTP side: aiosmtpd accepts every message and hands it to the store."""
from __future__ import annotations

import logging

from aiosmtpd.controller import Controller

from mailcatcher.store import Caught, Store

log = logging.getLogger(__name__)


class CatchAll:
    """aiosmtpd handler: every recipient is accepted (unless told to refuse, see refusals.py),
    every message is kept."""

    def __init__(self, store: Store):
        self.store = store

    async def handle_RCPT(self, server, session, envelope, address, rcpt_options):
        refusal = self.store.refusals.answer_for(address)
        if refusal is not None:
            log.info("refused %s as told: %s", address, refusal)
            return refusal
        envelope.rcpt_tos.append(address)
        return "250 OK"

    async def handle_DATA(self, server, session, envelope):
        raw = envelope.original_content or envelope.content
        caught = Caught.parse(envelope.mail_from, envelope.rcpt_tos, raw)
        self.store.add(caught)
        log.info("caught %s for %s: %s", caught.id, ", ".join(caught.rcpt_tos), caught.summary()["subject"])
        return "250 Message accepted for delivery"


def smtp_server(store: Store, host: str, port: int) -> Controller:
    # SMTPUTF8 lets clients send internationalised addresses; 10 MB is plenty for our mails.
    return Controller(CatchAll(store), hostname=host, port=port, enable_SMTPUTF8=True, data_size_limit=10 * 2**20)
