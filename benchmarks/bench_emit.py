"""µs per emit on the calling thread, beside a floor measured in the same run.

Run: python benchmarks/bench_emit.py

- floor: a bare blinker signal whose one receiver appends a dict to a deque;
- floor (no receiver): the same signal with nobody connected;
- enabled: ``command_finished.send`` through the real runtime (policy, envelope, batcher)
  into the memory sink; the batcher thread runs, flushes are not timed;
- disabled: ``command_finished.send`` after ``start()`` decided "disabled";
- import: ``import visivo.events`` by ``python -X importtime`` (cumulative, µs).
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
CHUNK = 2_000  # below the batcher's queue bound, so no emit takes the drop path
ROUNDS = 40


def per_emit_us(send: Callable[..., Any], between: Callable[[], None] = lambda: None) -> float:
    """Median over ROUNDS of the mean µs per call in a chunk of CHUNK calls."""
    samples = []
    for _ in range(ROUNDS):
        between()
        started = time.perf_counter()
        for _ in range(CHUNK):
            send(None, **PAYLOAD)
        samples.append((time.perf_counter() - started) / CHUNK * 1e6)
    return statistics.median(samples)


def floor() -> tuple[float, float]:
    signal = Namespace().signal("command_finished")
    sent = per_emit_us(signal.send)
    events: collections.deque[dict[str, Any]] = collections.deque(maxlen=100_000)

    def receiver(sender: object, **payload: Any) -> None:
        events.append(dict(payload))

    signal.connect(receiver)
    return per_emit_us(signal.send), sent


def enabled() -> float:
    sink = MemorySink()
    runtime.start_with_sink(sink)

    def between() -> None:
        runtime.flush(5.0)
        sink.clear()

    try:
        return per_emit_us(command_finished.send, between)
    finally:
        runtime.reset()


def disabled() -> float:
    decision = runtime.start(env={"VISIVO_TELEMETRY_DISABLED": "1"})
    assert not decision.enabled
    try:
        return per_emit_us(command_finished.send)
    finally:
        runtime.reset()


def import_us() -> int:
    samples = []
    for _ in range(7):
        done = subprocess.run(
            [sys.executable, "-X", "importtime", "-c", "import visivo.events"],
            capture_output=True,
            text=True,
            check=True,
        )
        for line in done.stderr.splitlines():
            fields = [field.strip() for field in line.split("|")]
            if len(fields) == 3 and fields[2] == "visivo.events":
                samples.append(int(fields[1]))
    return int(statistics.median(samples))


def main() -> None:
    with_receiver, no_receiver = floor()
    on, off = enabled(), disabled()
    rows = [
        ("floor: blinker + deque receiver", with_receiver, ""),
        ("floor: blinker, no receiver", no_receiver, ""),
        ("enabled (memory sink)", on, f"{on / with_receiver:.2f}x floor (target <= 2.5x)"),
        ("disabled", off, f"{off / no_receiver:.2f}x no-receiver (target <= 1.1x)"),
    ]
    print(f"{'case':<34} {'us/emit':>8}  ratio")
    for name, value, ratio in rows:
        print(f"{name:<34} {value:>8.2f}  {ratio}")
    print(f"{'import visivo.events':<34} {import_us() / 1000:>6.1f}ms  (target <= 10 ms)")


if __name__ == "__main__":
    main()
