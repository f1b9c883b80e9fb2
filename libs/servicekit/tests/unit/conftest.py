import sys
from pathlib import Path

import pytest

# The repository runs pytest with --import-mode=importlib (no sys.path changes): make the
# uniquely named helper module next to this file importable by the tests.
sys.path.insert(0, str(Path(__file__).parent))

from sk_probe_api import SPEC  # noqa: E402


@pytest.fixture
def spec_file(tmp_path):
    """sk_probe_api's OpenAPI document in a file (what `add_api` takes)."""
    path = tmp_path / "openapi.yaml"
    path.write_text(SPEC)
    return path
