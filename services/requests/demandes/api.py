"""The requests service's internal HTTP API (operations named in openapi.yaml)."""
