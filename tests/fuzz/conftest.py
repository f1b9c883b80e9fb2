"""The fuzz stage's platform: built once per run (see fuzzkit), dropped at the end."""
from __future__ import annotations

import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parent))

import fuzzkit  # noqa: E402


@pytest.fixture(scope="session")
def fuzz_platform() -> fuzzkit.Platform:
    platform = fuzzkit.platform()
    platform.seed()
    return platform


def pytest_sessionfinish(session, exitstatus):
    fuzzkit.close_platform()


def pytest_terminal_summary(terminalreporter):
    lines = fuzzkit.summary()
    if lines:
        terminalreporter.section("fuzzed (requests sent by generated cases, by status)")
        for line in lines:
            terminalreporter.write_line(line)
