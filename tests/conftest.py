"""Shared fixtures: every test starts and ends with no telemetry pipeline."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from visivo.telemetry import runtime


@pytest.fixture(autouse=True)
def _fresh_runtime() -> Iterator[None]:
    runtime.reset()
    yield
    runtime.reset()
