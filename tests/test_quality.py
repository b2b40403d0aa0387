"""Linters and the type checker are part of the test suite."""

from __future__ import annotations

import subprocess
import sys

import pytest

from tests.support import REPO

CHECKS = {
    "ruff check": [sys.executable, "-m", "ruff", "check", "."],
    "ruff format": [sys.executable, "-m", "ruff", "format", "--check", "."],
    "mypy --strict": [sys.executable, "-m", "mypy", "--strict", "visivo"],
}


@pytest.mark.parametrize("name", list(CHECKS))
def test_clean(name: str) -> None:
    """The tree passes ruff check, ruff format --check and mypy --strict."""
    done = subprocess.run(
        CHECKS[name], cwd=REPO, capture_output=True, text=True, timeout=300, check=False
    )
    assert done.returncode == 0, done.stdout + done.stderr
