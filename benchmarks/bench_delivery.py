"""Delivery benchmarks: exit delay, burst throughput and per-emit cost, beside a floor.

Run by hand from the repository root (not part of the test suite)::

    PYTHONPATH=. python benchmarks/bench_delivery.py [--runs 3] [--burst 50000] [--only PART]

Every measurement runs in a fresh subprocess, once with visivo-telemetry and once with
the *floor*: a minimal hand-rolled deque -> JSON -> gzip -> urllib3 batcher (below), with
the same queue bound, batch size, interval and exit deadline. Servers run in this process
on 127.0.0.1 (tests/servers.py).

(a) exit: seconds from the last emit (a wall-clock stamp the child writes to a file) to
    the parent seeing the child exit, per endpoint behaviour. "command" runs one tracked
    command that works 0.3 s (the realistic CLI case: the HTTP stack loads meanwhile);
    "cold" emits one event and exits (urllib3 is imported on the first send); "warm" has
    delivered one event before the measured one.
(b) burst: N events emitted as fast as one thread can, then flush: delivered events/s
    (from the first emit to the end of the flush) and the share lost.
    The burst runs once per network sink (native ``http``, ``posthog``, ``otlp``) and
    also reports the worker's CPU per event: the process's CPU time minus the calling
    thread's (``time.process_time() - time.thread_time()``), i.e. the telemetry thread's.
(c) emit: microseconds per emit on the calling thread during the burst; "floor via
    blinker" feeds the floor through a blinker signal, the dispatch Visivo's events use.
(d) encoders: microseconds per event for each wire format's encoder, in this process,
    beside ``json.dumps`` of the same envelope wire form.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

# FLOOR is imported by benchmarks/peers/floor.py (compare.py), so loading this module
# stays cheap: the loopback servers (and trustme) are imported where they are used.

# Each Visivo burst kind is a network sink; the path tells the reader which format came.
SINK_KINDS = {"visivo http": "http", "visivo posthog": "posthog", "visivo otlp": "otlp"}

FLOOR = r'''
import atexit, gzip, json, threading, time, uuid
from collections import deque
import urllib3

class Floor:
    """deque -> JSON -> gzip -> urllib3, one daemon thread, bounded exit."""

    def __init__(self, url, max_queue=10_000, batch=500, interval_s=2.0):
        self.url, self.max_queue, self.batch, self.interval_s = url, max_queue, batch, interval_s
        self.queue, self.lock, self.wake = deque(), threading.Lock(), threading.Event()
        self.idle = threading.Condition(self.lock)
        self.pool = urllib3.PoolManager(maxsize=1, retries=False)
        self.thread, self.stopping, self.in_flight = None, False, 0
        self.enqueued = self.sent = self.dropped = self.failed = 0
        atexit.register(self.shutdown, 0.9)

    def put(self, event):
        with self.lock:
            if len(self.queue) >= self.max_queue:
                self.dropped += 1
                return
            self.queue.append(event)
            self.enqueued += 1
            if self.thread is None:
                self.thread = threading.Thread(target=self.run, daemon=True)
                self.thread.start()
            full = len(self.queue) >= self.batch
        if full:
            self.wake.set()

    def run(self):
        while True:
            self.wake.wait(self.interval_s)
            self.wake.clear()
            while True:
                with self.lock:
                    if not self.queue:
                        self.idle.notify_all()
                        break
                    n = min(len(self.queue), self.batch)
                    batch = [self.queue.popleft() for _ in range(n)]
                    self.in_flight = n
                body = json.dumps({"batch": batch, "sent_at": time.time()}).encode()
                try:
                    r = self.pool.request("POST", self.url, body=gzip.compress(body, 6),
                        headers={"Content-Type": "application/json", "Content-Encoding": "gzip"},
                        timeout=urllib3.Timeout(1.0), retries=False, redirect=False)
                    ok = 200 <= r.status < 300
                except Exception:
                    ok = False
                with self.lock:
                    self.in_flight = 0
                    if ok: self.sent += n
                    else: self.failed += n
            if self.stopping:
                return

    def flush(self, timeout):
        self.wake.set()
        deadline = time.monotonic() + timeout
        with self.lock:
            while self.queue or self.in_flight:
                if not self.idle.wait(max(deadline - time.monotonic(), 0)):
                    return False
            return True

    def shutdown(self, timeout):
        self.stopping = True
        self.wake.set()
        if self.thread is not None:
            self.thread.join(timeout)

SESSION = str(uuid.uuid4())
floor = Floor(URL, **({"max_queue": MAX_QUEUE} if "MAX_QUEUE" in globals() else {}))

def emit(command="run"):
    floor.put({"event": "command_finished", "schema_version": 1, "timestamp": time.time(),
               "session_id": SESSION, "visivo_version": "0.1.0", "python_version": "3.11.7",
               "os": "linux", "properties": {"command": command, "duration_ms": 1,
               "success": True}})

def command():
    time.sleep(0.3)
    emit()

def flush(timeout): return floor.flush(timeout)
def counts(): return {"enqueued": floor.enqueued + floor.dropped, "sent": floor.sent}
'''

# The same floor, fed through a blinker signal, as Visivo's events always are:
# it shows how much of an emit is blinker's dispatch rather than telemetry's own work.
FLOOR_BLINKER = (
    FLOOR
    + r"""
from blinker import Namespace
_signal = Namespace().signal("command_finished")
_put = emit

def _receiver(sender, **payload):
    _put(payload["command"])

_signal.connect(_receiver)

def emit(command="run"):
    _signal.send(None, command=command, duration_ms=1.0, success=True)
"""
)

VISIVO = r"""
import visivo.telemetry as telemetry
from visivo.events import command_finished
telemetry.start()

def emit(command="run"):
    command_finished.send(None, command=command, duration_ms=1.0, success=True)

def command():
    # A tracked command that works for 0.3 s, as a real CLI command does.
    import time
    from visivo.events import track_command
    with track_command("run"):
        time.sleep(0.3)

def flush(timeout): return telemetry.flush(timeout)
def counts():
    c = telemetry.counters()
    return {"enqueued": c.enqueued, "sent": c.sent}
"""

EXIT_TAIL = r"""
import time
if MODE == "warm":
    emit("warmup")
    flush(2.0)
if MODE == "command":
    command()
else:
    emit()
open(STAMP, "w").write(repr(time.time()))
"""

BURST_TAIL = r"""
import json, time
cpu, caller = time.process_time(), time.thread_time()
started = time.perf_counter()
for _ in range(N):
    emit()
emitted = time.perf_counter()
flush(60.0)
done = time.perf_counter()
worker = (time.process_time() - cpu) - (time.thread_time() - caller)
print(json.dumps({"emit_s": emitted - started, "total_s": done - started,
                  "worker_cpu_s": worker, **counts()}))
"""


def child(kind: str, url: str, tail: str, **names: object) -> str:
    prelude = "".join(f"{name} = {value!r}\n" for name, value in names.items())
    body = {"floor": FLOOR, "floor via blinker": FLOOR_BLINKER}.get(kind, VISIVO)
    return f"URL = {url!r}\n" + prelude + body + tail


def run(code: str, url: str, sink: str = "http") -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("VISIVO_", "DO_NOT", "OTEL_"))}
    base = url.rstrip("/")
    env.update(
        PYTHONPATH=str(REPO),
        VISIVO_TELEMETRY_SINK=sink,
        VISIVO_TELEMETRY_ENDPOINT=url,
        VISIVO_POSTHOG_HOST=base,
        OTEL_EXPORTER_OTLP_ENDPOINT=base,
        HOME=tempfile.gettempdir(),
    )
    return subprocess.run(
        [sys.executable, "-c", code],
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )


@contextmanager
def endpoint(name: str) -> Iterator[str]:
    from tests.servers import BlackHole, Collector, Reply, refused_port

    if name == "refused":
        yield f"http://127.0.0.1:{refused_port()}/"
    elif name == "black hole":
        with BlackHole() as hole:
            yield hole.url
    else:
        with Collector() as collector:
            if name == "slow":
                collector.default = Reply(delay_s=5)
            elif name == "500":
                collector.default = Reply(500)
            yield collector.url


def exit_delay(kind: str, name: str, mode: str) -> float:
    with tempfile.TemporaryDirectory() as tmp, endpoint(name) as url:
        stamp = str(Path(tmp) / "stamp")
        done = run(child(kind, url, EXIT_TAIL, MODE=mode, STAMP=stamp), url)
        exited = time.time()
        if done.returncode != 0 or done.stderr:
            raise RuntimeError(f"{kind} {name}: {done.returncode} {done.stderr[-500:]}")
        return exited - float(Path(stamp).read_text())


def burst(kind: str, n: int) -> dict[str, float]:
    sink = SINK_KINDS.get(kind, "http")
    from tests.servers import Collector
    from tests.telemetry.sinks.wirekit import READERS

    with Collector() as collector:
        # The floor's queue holds the whole burst too, so both deliver every event.
        code = child(kind, collector.url, BURST_TAIL, N=n, MAX_QUEUE=max(n, 10_000))
        done = run(code, collector.url, sink)
        if done.returncode != 0:
            raise RuntimeError(done.stderr[-2000:])
        result: dict[str, float] = json.loads(done.stdout)
        result["received"] = sum(len(READERS[sink](r.body)) for r in collector.requests)
    return result


def encoders(repeat: int) -> dict[str, float]:
    """Microseconds per event: json.dumps of the wire form, then each format's encoder."""
    import timeit
    import uuid

    from visivo.telemetry.schema import CommandFinished, Envelope, Metadata, to_wire
    from visivo.telemetry.sinks.network.native import NATIVE
    from visivo.telemetry.sinks.network.otlp import OTLP
    from visivo.telemetry.sinks.network.posthog import posthog_format
    from visivo.telemetry.sinks.network.wire import random_uuids

    envelope = Envelope(
        CommandFinished("run", 1834, False, "ValueError", 12, {"chart": 4}),
        time.time(),
        Metadata.for_this_process(),
    )
    wire = to_wire(envelope)
    key = str(uuid.uuid4())
    posthog = posthog_format("phc_x")
    cases: dict[str, Callable[[], object]] = {
        "json.dumps(wire)": lambda: json.dumps(wire),
        "to_wire (shared by all)": lambda: to_wire(envelope),
        "str(uuid.uuid4())": lambda: str(uuid.uuid4()),
        "native": lambda: NATIVE.encode_event(wire, ""),
        "posthog": lambda: posthog.encode_event(wire, key),
        "otlp": lambda: OTLP.encode_event(wire, ""),
    }
    number = 20_000
    timings = {
        name: min(timeit.repeat(case, number=number, repeat=repeat)) / number * 1e6
        for name, case in cases.items()
    }
    batch = min(timeit.repeat(lambda: random_uuids(500), number=40, repeat=repeat))
    timings["random_uuids, per id (posthog only)"] = batch / (40 * 500) * 1e6
    return timings


def median(runs: int, measure: Callable[[str, str, str], float], *args: object) -> float:
    return statistics.median(measure(*args) for _ in range(runs))  # type: ignore[arg-type]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=3, help="runs per cell (median shown)")
    parser.add_argument("--burst", type=int, default=50_000, help="events in the burst")
    parser.add_argument("--only", choices=["exit", "burst", "encoders"], help="one part only")
    args = parser.parse_args()

    print(f"Python {sys.version.split()[0]}, {os.cpu_count()} CPUs, median of {args.runs} runs\n")
    if args.only in (None, "exit"):
        exit_table(args.runs)
    if args.only in (None, "burst"):
        burst_table(args.runs, args.burst)
    if args.only in (None, "encoders"):
        print("\n(d) µs per event (best of 5 x 20,000)")
        print("| encoder | µs per event |")
        print("|---|---|")
        for name, micros in encoders(5).items():
            print(f"| {name} | {micros:.2f} |")


def exit_table(runs: int) -> None:
    names = ["fast", "refused", "black hole", "slow", "500"]
    print("(a) seconds from the last emit to process exit")
    print(f"| {'':18} | " + " | ".join(f"{n:>10}" for n in names) + " |")
    print("|" + "---|" * (len(names) + 1))
    for kind in ("visivo", "floor"):
        for mode in ("cold", "warm", "command"):
            cells = [median(runs, exit_delay, kind, n, mode) for n in names]
            label = f"{kind} ({mode})"
            print(f"| {label:18} | " + " | ".join(f"{c:10.3f}" for c in cells) + " |")


def burst_table(runs: int, size: int) -> None:
    print(f"\n(b, c) burst of {size:,} events to a local collector")
    print(
        "| | delivered events/s | vs floor | lost | worker µs CPU per event | vs floor "
        "| µs per emit (caller) | total s |"
    )
    print("|---|---|---|---|---|---|---|---|")
    rows = {}
    for kind in ("floor", *SINK_KINDS, "floor via blinker"):
        results = [burst(kind, size) for _ in range(runs)]
        best = sorted(results, key=lambda r: r["total_s"])[len(results) // 2]
        rows[kind] = {
            "rate": best["received"] / best["total_s"],
            "lost": 1 - best["received"] / size,
            "cpu": best["worker_cpu_s"] / size * 1e6,
            "emit": best["emit_s"] / size * 1e6,
            "total": best["total_s"],
        }
    floor = rows["floor"]
    for kind, row in rows.items():
        print(
            f"| {kind} | {row['rate']:,.0f} | {row['rate'] / floor['rate']:.2f}x "
            f"| {row['lost']:.2%} | {row['cpu']:.1f} | {row['cpu'] / floor['cpu']:.2f}x "
            f"| {row['emit']:.1f} | {row['total']:.3f} |"
        )


if __name__ == "__main__":
    main()
