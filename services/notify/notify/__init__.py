"""Notify service: renders and sends the platform's e-mails, records every notification."""
