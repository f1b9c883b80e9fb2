"""Billing's tables."""
from servicekit.db import declarative_base
from servicekit.projections import families as families_projection

Base = declarative_base()

# Local copy of identity's families per commune (scopes this service's data per tenant).
families = families_projection.define_table(Base.metadata)
