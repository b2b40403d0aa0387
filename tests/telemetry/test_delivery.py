"""Delivery through the real runtime: the exit deadline, fork safety, silence and counters."""

from __future__ import annotations

import contextlib
import json
import subprocess
import sys
import textwrap
import threading
import time
from collections import Counter
from collections.abc import Iterator, Sequence
from pathlib import Path

import pytest

from tests.servers import BlackHole, Collector, Reply, refused_port
from tests.support import clean_env, run_python
from visivo.events import command_finished
from visivo.telemetry import runtime
from visivo.telemetry.batcher import DEFAULT_MAX_QUEUE_SIZE, QUEUE_FULL
from visivo.telemetry.runtime import Counters
from visivo.telemetry.schema import Envelope
from visivo.telemetry.sinks.memory import MemorySink

# The host's own resolver, slow or failing: replaced in the child process only.
DNS_NEVER_ANSWERS = (
    "import socket, threading\nsocket.getaddrinfo = lambda *a, **k: threading.Event().wait()\n"
)
DNS_FAILS = (
    "import socket\n"
    "def _fail(*a, **k):\n"
    "    raise socket.gaierror(socket.EAI_NONAME, 'Name or service not known')\n"
    "socket.getaddrinfo = _fail\n"
)
# A long interval keeps events queued until a flush or the exit asks for them.
LONG_INTERVAL = (
    "import functools\n"
    "from visivo.telemetry import pipeline\n"
    "from visivo.telemetry.batcher import Batcher\n"
    "pipeline.Batcher = functools.partial(Batcher, interval_s=60)\n"
)
EMIT_AND_EXIT = (
    "import visivo.telemetry as telemetry\n"
    "from visivo.events import command_finished\n"
    "telemetry.start()\n"
    "for _ in range({events}):\n"
    "    command_finished.send(None, command='run', duration_ms=1.0, success=True)\n"
)
FAULTS = [
    "refused",
    "dns_fails",
    "dns_never_answers",
    "black_hole",
    "slow",
    "http_500",
    "tls_stall",
]


@contextlib.contextmanager
def fault(name: str) -> Iterator[tuple[str, str]]:
    """The endpoint URL of a failure mode, and a prelude the child runs first."""
    if name == "refused":
        yield f"http://127.0.0.1:{refused_port()}/", ""
    elif name == "dns_fails":
        yield "http://collector.invalid/", DNS_FAILS
    elif name == "dns_never_answers":
        yield "http://collector.invalid/", DNS_NEVER_ANSWERS
    elif name in ("black_hole", "tls_stall"):
        with BlackHole() as hole:
            yield (hole.url if name == "black_hole" else hole.https_url), ""
    else:
        with Collector() as collector:
            collector.default = Reply(500) if name == "http_500" else Reply(delay_s=5)
            yield collector.url, ""


def timed(
    code: str, env: dict[str, str], cwd: Path
) -> tuple[float, subprocess.CompletedProcess[str]]:
    started = time.monotonic()
    done = run_python(code, env=env, cwd=cwd)
    return time.monotonic() - started, done


def baseline(tmp_path: Path, events: int = 1) -> float:
    """Wall time of the same program with telemetry disabled."""
    env = clean_env(tmp_path, VISIVO_TELEMETRY_DISABLED="1")
    elapsed, done = timed(EMIT_AND_EXIT.format(events=events), env, tmp_path)
    assert done.returncode == 0, done.stderr
    return elapsed


def telemetry_threads() -> list[threading.Thread]:
    return [t for t in threading.enumerate() if t.name == "visivo-telemetry"]


def start_http(tmp_path: Path, url: str) -> None:
    env = {"VISIVO_TELEMETRY_ENDPOINT": url}
    assert runtime.start(tmp_path, env=env, home=tmp_path).enabled


def emit(n: int, command: str = "run") -> None:
    for _ in range(n):
        command_finished.send(None, command=command, duration_ms=1.0, success=True)


def assert_adds_up(counters: Counters) -> None:
    lost = sum(counters.dropped.values()) + sum(counters.failed.values())
    assert counters.enqueued == counters.sent + lost + counters.queued, counters


class TestExitDeadline:
    @pytest.mark.parametrize("name", FAULTS)
    def test_exit_waits_at_most_the_deadline(self, tmp_path: Path, name: str) -> None:
        """Whatever the endpoint does, exit is silent and at most about a second late."""
        reference = baseline(tmp_path)
        with fault(name) as (url, prelude):
            env = clean_env(tmp_path, VISIVO_TELEMETRY_ENDPOINT=url)
            elapsed, done = timed(prelude + EMIT_AND_EXIT.format(events=1), env, tmp_path)
        assert (done.returncode, done.stdout, done.stderr) == (0, "", "")
        assert elapsed - reference < 1.5, (elapsed, reference)

    def test_nothing_queued_means_no_wait(self, tmp_path: Path) -> None:
        """A process that emitted nothing exits as fast as a disabled one."""
        reference = baseline(tmp_path, events=0)
        with BlackHole() as hole:
            env = clean_env(tmp_path, VISIVO_TELEMETRY_ENDPOINT=hole.url)
            elapsed, done = timed(EMIT_AND_EXIT.format(events=0), env, tmp_path)
        assert (done.returncode, done.stdout, done.stderr) == (0, "", "")
        assert elapsed - reference < 0.3, (elapsed, reference)

    @pytest.mark.parametrize("name", ["black_hole", "slow", "dns_never_answers"])
    def test_abandoned_thread_makes_no_noise(self, tmp_path: Path, name: str) -> None:
        """Exiting while the thread is stuck mid-request prints nothing, run after run."""
        with fault(name) as (url, prelude):
            env = clean_env(tmp_path, VISIVO_TELEMETRY_ENDPOINT=url)
            code = prelude + EMIT_AND_EXIT.format(events=3)
            runs = [
                subprocess.Popen(
                    [sys.executable, "-c", code],
                    env=env,
                    cwd=tmp_path,
                    stdout=subprocess.PIPE,
                    stderr=subprocess.PIPE,
                    text=True,
                )
                for _ in range(4)
            ]
            outputs = [(run.communicate(timeout=30), run.returncode) for run in runs]
        assert outputs == [(("", ""), 0)] * 4

    def test_flush_and_shutdown_keep_their_timeouts(self, tmp_path: Path) -> None:
        """flush(t) and shutdown(t) return within t against a black hole, and count it all."""
        with BlackHole() as hole:
            start_http(tmp_path, hole.url)
            emit(2)
            started = time.monotonic()
            assert runtime.flush(0.3) is False
            assert 0.25 < time.monotonic() - started < 0.6
            started = time.monotonic()
            assert runtime.shutdown(0.3) is False
            assert time.monotonic() - started < 0.6
            for thread in telemetry_threads():
                thread.join(3)
        counters = runtime.counters()
        assert (counters.enqueued, counters.sent, counters.queued) == (2, 0, 0)
        assert counters.failed == {"timeout": 2}
        assert_adds_up(counters)


class TestSilentButAccountable:
    def test_counters_add_up_with_the_http_sink(self, tmp_path: Path) -> None:
        """Sent, dropped and failed events, by reason, add up to what was enqueued."""
        with Collector() as collector:
            collector.script(Reply(200), Reply(400), Reply(500), Reply(500))
            start_http(tmp_path, collector.url)
            for n in (2, 1, 1):
                emit(n)
                assert runtime.flush(2.0)
            counters = runtime.counters()
        assert (counters.enqueued, counters.sent, counters.queued) == (4, 2, 0)
        assert counters.dropped == {"http_4xx": 1}
        assert counters.failed == {"http_5xx": 1}
        assert counters.errors == {}
        assert counters.lost == 2
        assert_adds_up(counters)

    def test_counters_without_a_pipeline_are_zero(self) -> None:
        """Before any pipeline ran, every count is zero."""
        counters = runtime.counters()
        assert (counters.enqueued, counters.sent, counters.queued, counters.lost) == (0, 0, 0, 0)
        assert counters.batcher is None

    @pytest.mark.parametrize(
        ("counters", "line"),
        [
            (Counters(enqueued=1, sent=1), "1 event: 1 sent"),
            (
                Counters(enqueued=3, failed={"timeout": 3}),
                "3 events: 0 sent, 3 failed (timeout: 3)",
            ),
            (
                Counters(enqueued=6, sent=1, queued=1, dropped={"paused": 1, "queue_full": 3}),
                "6 events: 1 sent, 4 dropped (queue_full: 3, paused: 1), 1 queued",
            ),
        ],
    )
    def test_summary_line(self, counters: Counters, line: str) -> None:
        """The summary names what was sent and what was lost, by reason, most first."""
        assert counters.summary() == line

    def test_console_sink_beside_http_prints_one_summary_at_exit(self, tmp_path: Path) -> None:
        """With http,stderr the exit prints the events, then one line saying what was lost."""
        url = f"http://127.0.0.1:{refused_port()}/"
        env = clean_env(
            tmp_path, VISIVO_TELEMETRY_ENDPOINT=url, VISIVO_TELEMETRY_SINK="http,stderr"
        )
        done = run_python(EMIT_AND_EXIT.format(events=3), env=env, cwd=tmp_path)
        assert (done.returncode, done.stdout) == (0, "")
        *events, summary = done.stderr.splitlines()
        assert [json.loads(line)["event"] for line in events] == ["command_finished"] * 3
        assert summary == "visivo-telemetry: 3 events: 0 sent, 3 failed (connection: 3)"


def test_a_forked_child_sends_only_its_own_events(tmp_path: Path) -> None:
    """Parent and forked child each deliver their own events exactly once, in two sessions."""
    code = LONG_INTERVAL + textwrap.dedent(
        """
        import json, os
        import visivo.telemetry as telemetry
        from visivo.events import command_finished
        telemetry.start()
        command_finished.send(None, command="warmup")
        assert telemetry.flush(5.0)  # the parent now holds a pooled connection
        for jobs in range(3):
            command_finished.send(None, command="parent", jobs=jobs)
        assert telemetry.counters().queued == 3
        pid = os.fork()
        if pid == 0:
            command_finished.send(None, command="child")
            ok = telemetry.flush(5.0)
            counters = telemetry.counters()
            os._exit(0 if ok and (counters.enqueued, counters.sent) == (1, 1) else 3)
        _, status = os.waitpid(pid, 0)
        assert telemetry.flush(5.0)
        counters = telemetry.counters()
        print(json.dumps([os.waitstatus_to_exitcode(status), counters.enqueued, counters.sent]))
        """
    )
    with Collector() as collector:
        env = clean_env(tmp_path, VISIVO_TELEMETRY_ENDPOINT=collector.url)
        done = run_python(code, env=env, cwd=tmp_path)
        assert done.returncode == 0, done.stderr
        received = [event for r in collector.requests for event in r.json()["batch"]]
    assert json.loads(done.stdout) == [0, 4, 4]
    assert done.stderr == ""
    seen = Counter((e["properties"]["command"], e["properties"].get("jobs")) for e in received)
    assert seen == {
        ("warmup", None): 1,
        ("parent", 0): 1,
        ("parent", 1): 1,
        ("parent", 2): 1,
        ("child", None): 1,
    }
    sessions = {e["properties"]["command"]: e["session_id"] for e in received}
    assert sessions["parent"] == sessions["warmup"] != sessions["child"]


def test_urllib3_is_imported_by_the_telemetry_thread_only(tmp_path: Path) -> None:
    """start() leaves urllib3 unloaded; only the telemetry thread ever imports it.

    Whether the worker has loaded it by the time the emit returns is a race (it warms up
    as soon as it starts), so the caller's side is judged by which threads imported it.
    """
    code = (
        "import json, sys, threading\n"
        "importers = []\n"
        "def audit(event, args):\n"
        "    if event == 'import' and args[0] == 'urllib3':\n"
        "        importers.append(threading.current_thread().name)\n"
        "sys.addaudithook(audit)\n" + LONG_INTERVAL + "import visivo.telemetry as telemetry\n"
        "from visivo.events import command_finished\n"
        "telemetry.start()\n"
        "before = 'urllib3' in sys.modules\n"
        "command_finished.send(None, command='run', duration_ms=1.0, success=True)\n"
        "assert telemetry.flush(5.0)\n"
        "print(json.dumps([before, sorted(set(importers)), telemetry.counters().sent]))\n"
    )
    with Collector() as collector:
        env = clean_env(tmp_path, VISIVO_TELEMETRY_ENDPOINT=collector.url)
        done = run_python(code, env=env, cwd=tmp_path)
    assert done.returncode == 0, done.stderr
    assert json.loads(done.stdout) == [False, ["visivo-telemetry"], 1]


def test_a_tracked_command_warms_the_http_stack_while_it_runs(tmp_path: Path) -> None:
    """Inside a tracked command, urllib3 and the pool load on the telemetry thread, early."""
    code = textwrap.dedent(
        """
        import json, sys, threading, time
        importers = []
        def audit(event, args):
            if event == "import" and args[0] == "urllib3":
                importers.append(threading.current_thread().name)
        sys.addaudithook(audit)
        import visivo.telemetry as telemetry
        from visivo.events import track_command
        from visivo.telemetry import runtime
        telemetry.start()
        with track_command("run"):
            deadline = time.monotonic() + 10
            while runtime.active_sink()._pool is None and time.monotonic() < deadline:
                time.sleep(0.01)
            warmed_during_command = runtime.active_sink()._pool is not None
        assert telemetry.flush(5.0)
        print(json.dumps([warmed_during_command, sorted(set(importers)),
                          telemetry.counters().sent]))
        """
    )
    with Collector() as collector:
        env = clean_env(tmp_path, VISIVO_TELEMETRY_ENDPOINT=collector.url)
        done = run_python(code, env=env, cwd=tmp_path)
    assert done.returncode == 0, done.stderr
    assert json.loads(done.stdout) == [True, ["visivo-telemetry"], 1]


class TestLoad:
    def test_sixteen_threads_are_accounted_for_exactly(self, tmp_path: Path) -> None:
        """16 threads x 1,000 events: every event is sent or dropped, and the collector agrees."""
        with Collector() as collector:
            start_http(tmp_path, collector.url)
            threads = [threading.Thread(target=emit, args=(1000,)) for _ in range(16)]
            for thread in threads:
                thread.start()
            for thread in threads:
                thread.join(30)
            assert runtime.flush(10.0)
            counters = runtime.counters()
            received = sum(len(r.json()["batch"]) for r in collector.requests)
        assert counters.enqueued == 16_000
        assert counters.sent == received
        assert set(counters.dropped) <= {QUEUE_FULL}
        assert counters.failed == {}
        assert counters.queued == 0
        assert_adds_up(counters)

    def test_a_full_queue_drops_the_newest_and_counts_them(self) -> None:
        """While the sink is stuck, events beyond the queue bound are dropped as queue_full."""
        release = threading.Event()

        class StuckSink(MemorySink):
            def send(self, batch: Sequence[Envelope]) -> None:
                release.wait(30)
                super().send(batch)

        sink = StuckSink()
        runtime.start_with_sink(sink)
        try:
            emit(DEFAULT_MAX_QUEUE_SIZE + 1000)
        finally:
            release.set()
        assert runtime.flush(30.0)
        counters = runtime.counters()
        # At most one batch (500) left the queue before the sink got stuck.
        assert 500 <= counters.dropped[QUEUE_FULL] <= 1000
        assert counters.sent == len(sink.wire())
        assert_adds_up(counters)
