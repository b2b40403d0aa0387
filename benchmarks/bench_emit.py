"""µs per emit on the calling thread, beside a floor measured in the same run.

Run: python benchmarks/bench_emit.py

Each case is timed in chunks that alternate with its floor, and the ratio is the median of
the per-pair ratios, so that drift in the machine's speed hits both sides alike.

- floor: a bare blinker signal whose one receiver appends a dict to a deque;
- floor (no receiver): the same signal with nobody connected;
- enabled: ``command_finished.send`` through the real runtime into the memory sink. A
  chunk is smaller than a batch, so the batcher's thread sleeps while it is timed (the
  caller's own cost); the flush between chunks is not timed;
- enabled, worker draining: chunks larger than a batch, so the batcher's thread scrubs
  and serialises meanwhile and competes for the GIL;
- disabled: ``command_finished.send`` after ``start()`` decided "disabled";
- import: ``import visivo.events`` by ``python -X importtime`` (cumulative), beside
  ``import blinker`` alone.
"""

from __future__ import annotations

import collections
import statistics
import subprocess
import sys
import time
from collections.abc import Callable
from typing import Any

from blinker import Namespace

from visivo.events import command_finished
from visivo.telemetry import runtime
from visivo.telemetry.sinks.memory import MemorySink

PAYLOAD: dict[str, Any] = {
    "command": "run",
    "duration_ms": 1834.2,
    "success": True,
    "error": None,
    "jobs": 12,
    "object_counts": None,
}
CHUNK = 400  # below the batch size (500): the batcher's thread stays asleep
BURST_CHUNK = 2_000  # above it: the batcher's thread works while we emit
ROUNDS = 60

Send = Callable[..., Any]


def chunk_us(send: Send, size: int) -> float:
    """Mean µs per call over ``size`` calls."""
    started = time.perf_counter()
    for _ in range(size):
        send(None, **PAYLOAD)
    return (time.perf_counter() - started) / size * 1e6


def paired(
    ours: Send, floor: Send, size: int = CHUNK, between: Callable[[], None] = lambda: None
) -> tuple[float, float, float]:
    """Median µs of ours, of the floor, and the median of per-round ratios."""
    mine, theirs, ratios = [], [], []
    for round_ in range(ROUNDS):
        between()
        if round_ % 2:
            a = chunk_us(ours, size)
            b = chunk_us(floor, size)
        else:
            b = chunk_us(floor, size)
            a = chunk_us(ours, size)
        mine.append(a)
        theirs.append(b)
        ratios.append(a / b)
    return statistics.median(mine), statistics.median(theirs), statistics.median(ratios)


def floor_signals() -> tuple[Send, Send]:
    """(a signal whose receiver appends a dict to a deque, a signal with no receiver)."""
    with_receiver = Namespace().signal("command_finished")
    events: collections.deque[dict[str, Any]] = collections.deque(maxlen=100_000)

    def receiver(sender: object, **payload: Any) -> None:
        events.append(dict(payload))

    with_receiver.connect(receiver, weak=False)
    return with_receiver.send, Namespace().signal("command_finished").send


def enabled(floor: Send, size: int) -> tuple[float, float, float]:
    sink = MemorySink()
    runtime.start_with_sink(sink)

    def between() -> None:
        runtime.flush(5.0)
        sink.clear()

    try:
        return paired(command_finished.send, floor, size, between)
    finally:
        runtime.shutdown(5.0)  # the worker must be idle before the next measurement
        runtime.reset()


def disabled(floor: Send) -> tuple[float, float, float]:
    decision = runtime.start(env={"VISIVO_TELEMETRY_DISABLED": "1"})
    assert not decision.enabled
    try:
        return paired(command_finished.send, floor)
    finally:
        runtime.reset()


def import_us(module: str) -> int:
    """Median cumulative import time of ``module`` in a fresh interpreter, in µs."""
    samples = []
    for _ in range(9):
        done = subprocess.run(
            [sys.executable, "-X", "importtime", "-c", f"import {module}"],
            capture_output=True,
            text=True,
            check=True,
        )
        for line in done.stderr.splitlines():
            fields = [field.strip() for field in line.split("|")]
            if len(fields) == 3 and fields[2] == module:
                samples.append(int(fields[1]))
    return int(statistics.median(samples))


def main() -> None:
    with_receiver, no_receiver = floor_signals()
    rows = [
        ("enabled (memory sink)", enabled(with_receiver, CHUNK), "floor", "<= 2.5x"),
        ("enabled, worker draining", enabled(with_receiver, BURST_CHUNK), "floor", ""),
        ("disabled", disabled(no_receiver), "no-receiver floor", "<= 1.1x"),
    ]
    print(f"{'case':<26} {'us/emit':>8} {'floor us':>9}  ratio (median of pairs)")
    for name, (ours, floor, ratio), against, target in rows:
        goal = f" (target {target})" if target else ""
        print(f"{name:<26} {ours:>8.2f} {floor:>9.2f}  {ratio:.2f}x {against}{goal}")
    ours_ms, blinker_ms = import_us("visivo.events") / 1000, import_us("blinker") / 1000
    print(f"{'import visivo.events':<26} {ours_ms:>6.1f}ms  (target <= 10 ms)")
    print(
        f"{'import blinker alone':<26} {blinker_ms:>6.1f}ms  (ours on top: "
        f"{ours_ms - blinker_ms:.1f} ms)"
    )


if __name__ == "__main__":
    main()
