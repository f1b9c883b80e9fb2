"""Billing's tables."""
from servicekit.db import declarative_base
from servicekit.projections import agents as agents_projection
from servicekit.projections import families as families_projection

Base = declarative_base()

# Local copy of identity's families per commune (scopes this service's data per tenant).
families = families_projection.define_table(Base.metadata)

# identity's current agents per commune: an agent's call is refused once they are removed.
agents = agents_projection.define_table(Base.metadata)
