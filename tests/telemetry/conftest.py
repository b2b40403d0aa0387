"""Fixtures shared by the leak and wire tests."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.telemetry.leakkit import Pipeline
from visivo.telemetry import runtime
from visivo.telemetry.sinks.file import FileSink
from visivo.telemetry.sinks.memory import MemorySink
from visivo.telemetry.sinks.registry import FanoutSink


@pytest.fixture
def pipeline(tmp_path: Path) -> Iterator[Pipeline]:
    """The real pipeline into memory, file and console sinks; reset afterwards."""
    try:
        yield Pipeline(tmp_path / "events.jsonl")
    finally:
        runtime.reset()


@pytest.fixture
def sinks(tmp_path: Path) -> Iterator[tuple[MemorySink, Path]]:
    """The real pipeline into a memory sink and a file sink."""
    memory, path = MemorySink(), tmp_path / "events.jsonl"
    runtime.reset()
    runtime.start_with_sink(FanoutSink([memory, FileSink(path)]))
    try:
        yield memory, path
    finally:
        runtime.reset()
