"""Espace Famille service kit: the plumbing every service shares.

Modules:
- settings: configuration from environment variables, failing fast.
- db: engines, sessions, the per-service declarative base (which carries the outbox/inbox tables).
- logs: JSON logs carrying the correlation id.
- context: the correlation id of the current request or event.
- tokens: short-lived signed service tokens (gateway -> services).
- web: the connexion/Flask app factory (health, metrics, problem+json errors).
- messaging: outbox, relay, consumers, inbox, retries, dead letters.
"""
