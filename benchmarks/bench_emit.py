"""µs per emit on the calling thread, beside a floor measured in the same run.

Run: python benchmarks/bench_emit.py

- floor: a bare blinker signal whose one receiver appends a dict to a deque;
- floor (no receiver): the same signal with nobody connected;
- enabled: ``command_finished.send`` through the real runtime (policy, envelope, batcher)
  into the memory sink; the batcher thread runs, flushes are not timed;
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
# Below the batcher's batch size (500), so its thread stays asleep during a chunk and
# only the calling thread's cost is timed; the flush between chunks is not timed.
CHUNK = 400
# Above the batch size: the batcher's thread scrubs and serialises while we emit.
BURST_CHUNK = 2_000
ROUNDS = 40


def per_emit_us(
    send: Callable[..., Any], between: Callable[[], None] = lambda: None, chunk: int = CHUNK
) -> float:
    """Median over ROUNDS of the mean µs per call in a chunk of ``chunk`` calls."""
    samples = []
    for _ in range(ROUNDS):
        between()
        started = time.perf_counter()
        for _ in range(chunk):
            send(None, **PAYLOAD)
        samples.append((time.perf_counter() - started) / chunk * 1e6)
    return statistics.median(samples)


def floor() -> tuple[float, float]:
    signal = Namespace().signal("command_finished")
    sent = per_emit_us(signal.send)
    events: collections.deque[dict[str, Any]] = collections.deque(maxlen=100_000)

    def receiver(sender: object, **payload: Any) -> None:
        events.append(dict(payload))

    signal.connect(receiver)
    return per_emit_us(signal.send), sent


def enabled(chunk: int) -> float:
    sink = MemorySink()
    runtime.start_with_sink(sink)

    def between() -> None:
        runtime.flush(5.0)
        sink.clear()

    try:
        return per_emit_us(command_finished.send, between, chunk)
    finally:
        runtime.shutdown(5.0)  # the worker must be idle before the next measurement
        runtime.reset()


def disabled_and_floor() -> tuple[float, float]:
    """Disabled telemetry beside a no-receiver signal, alternated so both see the same load."""
    decision = runtime.start(env={"VISIVO_TELEMETRY_DISABLED": "1"})
    assert not decision.enabled
    signal = Namespace().signal("command_finished")
    ours, floor_ = [], []
    try:
        for _ in range(5):
            ours.append(per_emit_us(command_finished.send))
            floor_.append(per_emit_us(signal.send))
        return statistics.median(ours), statistics.median(floor_)
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
    with_receiver, _ = floor()
    on = enabled(CHUNK)
    burst = enabled(BURST_CHUNK)
    off, no_receiver = disabled_and_floor()
    rows = [
        ("floor: blinker + deque receiver", with_receiver, ""),
        ("floor: blinker, no receiver", no_receiver, ""),
        ("enabled (memory sink)", on, f"{on / with_receiver:.2f}x floor (target <= 2.5x)"),
        ("enabled, worker draining meanwhile", burst, f"{burst / with_receiver:.2f}x floor"),
        ("disabled", off, f"{off / no_receiver:.2f}x no-receiver (target <= 1.1x)"),
    ]
    print(f"{'case':<34} {'us/emit':>8}  ratio")
    for name, value, ratio in rows:
        print(f"{name:<34} {value:>8.2f}  {ratio}")
    ours, blinker = import_us("visivo.events"), import_us("blinker")
    print(f"{'import visivo.events':<34} {ours / 1000:>6.1f}ms  (target <= 10 ms)")
    print(
        f"{'import blinker alone':<34} {blinker / 1000:>6.1f}ms  (ours on top: "
        f"{(ours - blinker) / 1000:.1f} ms)"
    )


if __name__ == "__main__":
    main()
