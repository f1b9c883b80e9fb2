"""Fixtures of the requests service's integration tests (requests_testkit holds them and the helpers)."""
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).parent))

from requests_testkit import app, client, db, db_url, storage_dir, world  # noqa: E402,F401
