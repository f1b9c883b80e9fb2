"""Moments are stored UTC and read back aware by one column type, not patched per use."""
import sqlalchemy as sa

from servicekit.types import UTCDateTime

from identity.models import Base


def test_every_identity_moment_column_is_stored_utc_and_read_aware():
    moments = [(t.name, c.name, c.type) for t in Base.metadata.tables.values() for c in t.columns
               if isinstance(c.type, sa.DateTime) or isinstance(c.type, UTCDateTime)]
    assert moments
    assert [(t, c) for t, c, kind in moments if not isinstance(kind, UTCDateTime)
            and t not in ("outbox", "inbox", "outbox_parked")] == []
