"""The lock (requirements/lock.txt) covers every direct dependency: a dependency added to a
pyproject.toml or requirements-dev.txt without `scripts/lock.py` would not be installed by
scripts/install.sh (which installs the lock, then the platform's packages with --no-deps)."""
import importlib.util
import re
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def _lock_script():
    spec = importlib.util.spec_from_file_location("lock", ROOT / "scripts" / "lock.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def _name(requirement: str) -> str:
    return re.split(r"[\[<>=!~; ]", requirement, maxsplit=1)[0].lower().replace("_", "-")


def test_lock_input_is_up_to_date():
    lock = _lock_script()
    recorded = [line for line in (ROOT / "requirements" / "direct.in").read_text().splitlines()
                if line and not line.startswith("#")]
    assert recorded == lock.direct_requirements(), "run: .venv/bin/python scripts/lock.py"


def test_every_direct_dependency_is_pinned_with_hashes():
    text = (ROOT / "requirements" / "lock.txt").read_text()
    pinned = {m.group(1).lower().replace("_", "-") for m in re.finditer(r"^([A-Za-z0-9_.\-]+)==", text, re.M)}
    missing = {_name(r) for r in _lock_script().direct_requirements()} - pinned
    assert not missing, f"not in the lock: {missing}"
    assert "--hash=sha256:" in text


def test_install_uses_the_lock():
    script = (ROOT / "scripts" / "install.sh").read_text()
    assert "--require-hashes -r requirements/lock.txt" in script
    assert "--no-deps -r requirements-dev.txt" in script
