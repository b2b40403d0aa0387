"""Overhead of the Flask integration per request, against the same app uninstrumented.

Both apps answer the same requests through Flask's test client in the same run, in short
alternating blocks (so that drift in the machine's speed hits both alike); the table
shows the median paired difference per request and its quartiles:
with telemetry off (the middleware's fast path), with a receiver that does nothing (the
integration's own cost: middleware, Flask signals, the ``request_finished`` send), and
with telemetry enabled into a memory sink (the whole path: receiver, policy, batcher).

    python benchmarks/bench_flask.py [--requests 100] [--rounds 300]
"""

from __future__ import annotations

import argparse
import statistics
import time
from collections.abc import Callable

import flask

from visivo.events import request_finished
from visivo.telemetry import runtime
from visivo.telemetry.integrations.flask import instrument
from visivo.telemetry.sinks.memory import MemorySink

TARGET_US = 10.0


def create_app() -> flask.Flask:
    """A small app with a parameterised JSON route."""
    app = flask.Flask("bench")

    @app.get("/api/project/<int:project_id>")
    def project(project_id: int) -> dict[str, int]:
        return {"id": project_id}

    return app


def per_request_us(get: Callable[[str], object], requests: int) -> float:
    """Mean microseconds per request over one round."""
    start = time.perf_counter()
    for index in range(requests):
        get(f"/api/project/{index}")
    return (time.perf_counter() - start) / requests * 1e6


def _ignore(sender: object, **payload: object) -> None:
    """A receiver that does nothing: the integration's own cost, without the pipeline."""


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--requests", type=int, default=100, help="requests per block")
    parser.add_argument("--rounds", type=int, default=300, help="pairs of blocks")
    options = parser.parse_args()

    plain = create_app().test_client()
    instrumented = instrument(create_app()).test_client()
    for client in (plain, instrumented):  # warm up
        per_request_us(client.get, 200)

    def compare(setup: Callable[[], None], teardown: Callable[[], None]) -> list[float]:
        setup()
        overheads = []
        try:
            for round_ in range(options.rounds):
                # Alternate which app goes first, so neither always follows the other.
                if round_ % 2:
                    after = per_request_us(instrumented.get, options.requests)
                    before = per_request_us(plain.get, options.requests)
                else:
                    before = per_request_us(plain.get, options.requests)
                    after = per_request_us(instrumented.get, options.requests)
                overheads.append(after - before)
        finally:
            teardown()
        return overheads

    sink = MemorySink()
    rows = {
        "telemetry off": compare(lambda: None, lambda: None),
        "integration only": compare(
            lambda: request_finished.connect(_ignore), lambda: request_finished.disconnect(_ignore)
        ),
        "full path, memory sink": compare(
            lambda: runtime.start_with_sink(sink, names=("memory",)), runtime.reset
        ),
    }
    baseline = statistics.median(per_request_us(plain.get, options.requests) for _ in range(3))

    print(f"uninstrumented app: {baseline:.1f} µs/request (Flask test client)")
    print(f"{'instrumented app, overhead':<30}{'median µs/req':>15}{'quartiles':>18}")
    for name, overheads in rows.items():
        low, _, high = statistics.quantiles(overheads, n=4)
        spread = f"{low:.1f} .. {high:.1f}"
        print(f"{name:<30}{statistics.median(overheads):>15.1f}{spread:>18}")
    full = statistics.median(rows["full path, memory sink"])
    print(f"target ≤ {TARGET_US:.0f} µs (full path): {'met' if full <= TARGET_US else 'MISSED'}")


if __name__ == "__main__":
    main()
