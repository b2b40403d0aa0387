"""Overhead of the Flask integration per request, against the same app uninstrumented.

Both apps answer the same request through their WSGI callable (as a server calls it:
a fresh environ, the body iterated and closed) in the same run, in short alternating
blocks, so that drift in the machine's speed hits both alike. The table shows the median
paired difference per request, and its quartiles, as wall-clock time and as the CPU time
of the whole process (every thread, so the telemetry thread's merging is included; it
is also immune to other processes sharing the machine):

- telemetry off: the middleware's fast path (no receivers);
- integration only: a receiver that does nothing (middleware, Flask's signal, our send);
- full path: telemetry enabled into a memory sink: receiver, queue, and on the
  telemetry thread the scrub and the merging of requests per window;
- excluded route: the full path for a request the ``include`` rules leave out.

Then it serves 1,000 requests per second for a few seconds through the full path and
counts the events that leave the process per second.

    python benchmarks/bench_flask.py [--requests 100] [--rounds 300] [--seconds 6]
"""

from __future__ import annotations

import argparse
import statistics
import time
from collections.abc import Callable
from typing import Any

import flask
from werkzeug.test import EnvironBuilder

from visivo.events import request_finished
from visivo.telemetry import runtime
from visivo.telemetry.integrations.flask import instrument
from visivo.telemetry.sinks.memory import MemorySink

TARGET_US = 10.0
RATE_PER_S = 1000

Call = Callable[[], None]


def create_app() -> flask.Flask:
    """A small app with a parameterised JSON route and a page outside the API."""
    app = flask.Flask("bench")

    @app.get("/api/project/<int:project_id>")
    def project(project_id: int) -> dict[str, int]:
        return {"id": project_id}

    @app.get("/")
    def index() -> str:
        return "hello"

    return app


def caller(app: flask.Flask, path: str) -> Call:
    """One request to ``app`` as a WSGI server makes it."""
    environ = EnvironBuilder(path).get_environ()
    wsgi = app.wsgi_app

    def start_response(status: str, headers: Any, *exc_info: Any) -> None:
        """The server's start_response."""

    def call() -> None:
        body = wsgi(dict(environ), start_response)
        for _ in body:
            pass
        close = getattr(body, "close", None)
        if close is not None:
            close()

    return call


def per_request_us(call: Call, requests: int) -> tuple[float, float]:
    """Mean wall-clock and process CPU microseconds per request over one block."""
    wall, cpu = time.perf_counter(), time.process_time()
    for _ in range(requests):
        call()
    return (
        (time.perf_counter() - wall) / requests * 1e6,
        (time.process_time() - cpu) / requests * 1e6,
    )


def _ignore(sender: object, **payload: object) -> None:
    """A receiver that does nothing: the integration's own cost, without the pipeline."""


def compare(
    plain: Call, instrumented: Call, requests: int, rounds: int
) -> list[tuple[float, float]]:
    """Paired (wall, CPU) overheads per request, alternating which app goes first."""
    overheads = []
    for round_ in range(rounds):
        if round_ % 2:
            after = per_request_us(instrumented, requests)
            before = per_request_us(plain, requests)
        else:
            before = per_request_us(plain, requests)
            after = per_request_us(instrumented, requests)
        overheads.append((after[0] - before[0], after[1] - before[1]))
    return overheads


def events_per_second(call: Call, seconds: float) -> tuple[float, float, int]:
    """Serve RATE_PER_S requests a second; (requests/s, events/s out, requests carried)."""
    sink = MemorySink()
    runtime.start_with_sink(sink, names=("memory",))
    try:
        start = time.perf_counter()
        served = 0
        while (now := time.perf_counter()) < start + seconds:
            due = int((now - start) * RATE_PER_S)
            while served < due:
                call()
                served += 1
            time.sleep(0.001)  # bounded by the loop's deadline
        elapsed = time.perf_counter() - start
        runtime.flush(5.0)
        envelopes = sink.envelopes()
        carried = sum(getattr(e.properties, "count", 1) for e in envelopes)
    finally:
        runtime.reset()
    assert carried == served, (carried, served)
    return served / elapsed, len(envelopes) / elapsed, carried


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--requests", type=int, default=100, help="requests per block")
    parser.add_argument("--rounds", type=int, default=300, help="pairs of blocks")
    parser.add_argument("--seconds", type=float, default=6.0, help="the 1,000 req/s run")
    options = parser.parse_args()

    api = "/api/project/7"
    plain = caller(create_app(), api)
    instrumented = caller(instrument(create_app()), api)
    excluded = caller(instrument(create_app(), include=["/api/"]), "/")
    plain_excluded = caller(create_app(), "/")
    for call in (plain, instrumented, excluded, plain_excluded):  # warm up
        per_request_us(call, 500)

    def run(setup: Call, teardown: Call, pair: tuple[Call, Call]) -> list[tuple[float, float]]:
        setup()
        try:
            return compare(*pair, options.requests, options.rounds)
        finally:
            teardown()

    def start() -> None:
        runtime.start_with_sink(MemorySink(), names=("memory",))

    def nothing() -> None:
        pass

    rows = {
        "telemetry off": run(nothing, nothing, (plain, instrumented)),
        "integration only": run(
            lambda: request_finished.connect(_ignore),
            lambda: request_finished.disconnect(_ignore),
            (plain, instrumented),
        ),
        "full path, memory sink": run(start, runtime.reset, (plain, instrumented)),
        "excluded route, full path": run(start, runtime.reset, (plain_excluded, excluded)),
    }
    samples = [per_request_us(plain, options.requests) for _ in range(20)]
    wall = statistics.median(sample[0] for sample in samples)
    cpu = statistics.median(sample[1] for sample in samples)
    print(
        f"uninstrumented app: {wall:.1f} µs/request wall, {cpu:.1f} µs CPU "
        "(WSGI call, body read and closed)"
    )
    print(
        f"{'overhead per request':<28}{'wall µs':>9}{'quartiles':>16}{'CPU µs':>9}{'quartiles':>16}"
    )
    for name, overheads in rows.items():
        cells = ""
        for column in (0, 1):
            values = [pair[column] for pair in overheads]
            low, _, high = statistics.quantiles(values, n=4)
            cells += f"{statistics.median(values):>9.1f}{f'{low:.1f} .. {high:.1f}':>16}"
        print(f"{name:<28}{cells}")
    full = statistics.median(pair[0] for pair in rows["full path, memory sink"])
    verdict = "met" if full <= TARGET_US else "MISSED"
    print(f"target ≤ {TARGET_US:.0f} µs wall (full path): {verdict}")

    rate, events, carried = events_per_second(instrumented, options.seconds)
    print(
        f"{rate:,.0f} requests/s for {options.seconds:g} s: {events:.2f} events/s leave the "
        f"process ({carried:,} requests, all carried)"
    )


if __name__ == "__main__":
    main()
