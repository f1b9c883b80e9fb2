"""Fixtures of booking's integration tests (booking_testkit holds them and the helpers)."""
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).parent))

from booking_testkit import app, client, db, db_url, world  # noqa: E402,F401
