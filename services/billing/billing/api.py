"""Billing's internal HTTP API (operations named in openapi.yaml)."""
