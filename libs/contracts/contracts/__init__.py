"""Event contracts of Espace Famille: the envelope, and one module per producing service.

Each payload model declares its `EVENT_TYPE` (the routing key). The JSON Schemas exported
from these models are committed under `contracts/schemas/` and a contract test checks that
they still match (see `python -m contracts export`).
"""
