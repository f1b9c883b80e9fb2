"""Reliable events over RabbitMQ (kombu): outbox, relay, consumers, inbox, retries, dead letters.

See libs/servicekit/README.md for the model and the public API.
"""
