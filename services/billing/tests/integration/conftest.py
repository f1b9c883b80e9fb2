"""Fixtures of billing's integration tests (billing_testkit holds them and the helpers)."""
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).parent))

from billing_testkit import app, client, db, db_url, provider, world  # noqa: E402,F401
