"""Fixtures shared by the leak tests."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.telemetry.leakkit import Pipeline
from visivo.telemetry import runtime


@pytest.fixture
def pipeline(tmp_path: Path) -> Iterator[Pipeline]:
    """The real pipeline into memory, file and console sinks; reset afterwards."""
    try:
        yield Pipeline(tmp_path / "events.jsonl")
    finally:
        runtime.reset()
