"""Offline laptops pay the exit budget once: real processes, a temp HOME, loopback servers."""

from __future__ import annotations

import json
import statistics
import subprocess
import sys
import textwrap
import time
from contextlib import nullcontext
from pathlib import Path

import pytest

from tests.servers import BlackHole, Collector, Reply
from tests.support import clean_env, run_cli, run_python
from tests.telemetry.offline_support import (
    edit_entry,
    entry_for,
    read_state,
    seed_backoff,
    state_path,
    unwritable,
    wait_accepted,
)
from visivo.telemetry import runtime
from visivo.telemetry.sinks.backoff import LEASE_S, OFFLINE_BACKOFF, PAUSED, destination_key
from visivo.telemetry.sinks.memory import MemorySink

EMIT_AND_EXIT = (
    "import visivo.telemetry as telemetry\n"
    "from visivo.events import command_finished\n"
    "telemetry.start()\n"
    "command_finished.send(None, command='run', duration_ms=1.0, success=True)\n"
)
# The host's resolver hangs, in the child process only.
DNS_NEVER_ANSWERS = (
    "import socket, threading\nsocket.getaddrinfo = lambda *a, **k: threading.Event().wait()\n"
)
# Registered before start(), so run after telemetry's own shutdown at exit: what the
# child dropped, and why.
REPORT_DROPPED = (
    "import atexit, visivo.telemetry.runtime as rt\n"
    "atexit.register(lambda: print(dict(rt.counters().dropped)))\n"
)
START_ONLY = "import visivo.telemetry as telemetry\ntelemetry.start()\n"
# A skipped process is compared with a run made just before it that starts telemetry the
# same way but emits nothing (the enabled start-up cost, reading the config files, is not
# the backoff's doing), so that load from other processes affects both alike.
SKIP_MEDIAN_S = 0.1
SKIP_EACH_S = 0.3


@pytest.fixture
def home(tmp_path: Path) -> Path:
    path = tmp_path / "home"
    path.mkdir()
    return path


def timed(home: Path, code: str = EMIT_AND_EXIT, **env: str) -> tuple[float, str]:
    """Run ``code`` with this HOME; its wall time and its stderr (it must succeed)."""
    started = time.monotonic()
    done = run_python(code, env=clean_env(home, **env), cwd=home)
    elapsed = time.monotonic() - started
    assert done.returncode == 0, done.stderr
    assert done.stdout == ""
    return elapsed, done.stderr


def extra_over(home: Path, url: str, reference_code: str, **reference_env: str) -> float:
    """Wall time of one run emitting an event minus a reference run made just before it."""
    reference, _ = timed(home, reference_code, **reference_env)
    elapsed, stderr = timed(home, VISIVO_TELEMETRY_ENDPOINT=url)
    assert stderr == ""
    return elapsed - reference


def end_backoff(home: Path, url: str) -> None:
    """Make the recorded backoff expire, as time would, by editing the real file."""
    edit_entry(home, url, until=time.time() - 1)


class TestBlackHole:
    def test_offline_costs_once_then_one_probe(self, home: Path) -> None:
        """The first process pays the budget; the next ten skip at once; then one probes."""
        with BlackHole() as hole:
            first = extra_over(home, hole.url, EMIT_AND_EXIT, VISIVO_TELEMETRY_DISABLED="1")
            assert first < 1.5
            assert wait_accepted(hole, 1) == 1
            entry = entry_for(home, hole.url)
            assert (entry["failures"], entry["reason"]) == (1, "timeout")

            extras = [
                extra_over(home, hole.url, START_ONLY, VISIVO_TELEMETRY_ENDPOINT=hole.url)
                for _ in range(10)
            ]
            assert hole.accepted == 1  # nothing was sent
            assert statistics.median(extras) < SKIP_MEDIAN_S, extras
            assert max(extras) < SKIP_EACH_S, extras
            assert entry_for(home, hole.url) == entry

            end_backoff(home, hole.url)
            timed(home, VISIVO_TELEMETRY_ENDPOINT=hole.url)
            assert wait_accepted(hole, 2) == 2  # exactly one probe
            timed(home, VISIVO_TELEMETRY_ENDPOINT=hole.url)
            assert hole.accepted == 2
        entry = entry_for(home, hole.url)
        assert entry["failures"] == 2
        assert entry["until"] - time.time() == pytest.approx(300, abs=30)

    def test_ten_processes_after_expiry_probe_once(self, home: Path) -> None:
        """Ten processes starting together after the backoff: one tries, nine skip."""
        with BlackHole() as hole:
            env = clean_env(home, VISIVO_TELEMETRY_ENDPOINT=hole.url)
            seed_backoff(home, hole.url)
            end_backoff(home, hole.url)
            runs = [
                subprocess.Popen(
                    [sys.executable, "-c", REPORT_DROPPED + EMIT_AND_EXIT],
                    env=env,
                    cwd=home,
                    stdout=subprocess.PIPE,
                    stderr=subprocess.PIPE,
                    text=True,
                )
                for _ in range(10)
            ]
            outputs = [run.communicate(timeout=30) for run in runs]
            assert [run.returncode for run in runs] == [0] * 10
            assert [err for _, err in outputs] == [""] * 10
            dropped = [out for out, _ in outputs]
            connections = wait_accepted(hole, 1)
        # Nine processes skipped without touching the network; one probed. Its connection
        # is missing only if it ran out of its exit budget before connecting (a machine so
        # loaded that importing the HTTP stack takes a second): then it says so itself.
        skipped = f"{{'{OFFLINE_BACKOFF}': 1}}\n"
        assert dropped.count(skipped) == 9, dropped
        (prober,) = (out for out in dropped if out != skipped)
        assert (connections, prober) in ((1, "{}\n"), (0, "{'exit_deadline': 1}\n")), dropped
        if connections:
            assert entry_for(home, hole.url)["failures"] == 2


class TestKilledProbe:
    def test_killed_prober_holds_the_others_one_lease_at_most(self, home: Path) -> None:
        """A prober killed mid-probe leaves its lease; others skip until it expires, then
        one probes."""
        with BlackHole() as hole:
            seed_backoff(home, hole.url)
            end_backoff(home, hole.url)
            env = clean_env(home, VISIVO_TELEMETRY_ENDPOINT=hole.url)
            prober = subprocess.Popen(
                [sys.executable, "-c", EMIT_AND_EXIT + "telemetry.flush(5.0)\n"],
                env=env,
                cwd=home,
                stdout=subprocess.DEVNULL,
                stderr=subprocess.DEVNULL,
            )
            try:
                assert wait_accepted(hole, 1, timeout=10.0) == 1  # connected: mid-probe
            finally:
                prober.kill()
                prober.wait(timeout=10)
            lease = entry_for(home, hole.url)["lease_until"]
            assert time.time() < lease <= time.time() + LEASE_S
            timed(home, VISIVO_TELEMETRY_ENDPOINT=hole.url)
            assert wait_accepted(hole, 2, timeout=0.5) == 1  # the lease holds the others
            edit_entry(home, hole.url, lease_until=time.time() - 1)  # as time would
            timed(home, VISIVO_TELEMETRY_ENDPOINT=hole.url)
            assert wait_accepted(hole, 2) == 2


class TestNameLookupNeverAnswers:
    def test_abandoned_send_still_starts_the_backoff(self, home: Path) -> None:
        """A name lookup that never returns is left behind at exit, yet the next process
        skips: the exiting thread records the timeout."""
        url = "http://collector.invalid/"
        code = DNS_NEVER_ANSWERS + EMIT_AND_EXIT
        first, stderr = timed(home, code, VISIVO_TELEMETRY_ENDPOINT=url)
        assert stderr == ""
        entry = entry_for(home, url)
        assert (entry["failures"], entry["reason"]) == (1, "timeout")
        second, _ = timed(home, code, VISIVO_TELEMETRY_ENDPOINT=url)
        assert second < first - 0.5, (first, second)


class TestRecovery:
    def test_probe_success_resets_and_delivery_resumes(self, home: Path) -> None:
        """A collector failing with 500 is skipped; once it recovers the probe resets it."""
        with Collector() as collector:
            collector.default = Reply(500)
            url = collector.url
            timed(home, VISIVO_TELEMETRY_ENDPOINT=url)
            failed = len(collector.requests)
            assert failed == 2  # the first try and its one retry
            assert entry_for(home, url)["reason"] == "http_5xx"
            timed(home, VISIVO_TELEMETRY_ENDPOINT=url)
            assert len(collector.requests) == failed

            collector.default = Reply(200)
            end_backoff(home, url)
            timed(home, VISIVO_TELEMETRY_ENDPOINT=url)
            assert len(collector.requests) == failed + 1
            entry = entry_for(home, url)
            assert (entry["failures"], entry["until"], entry["lease_until"]) == (0, 0, 0)
            assert time.time() - entry["last_success"] < 30

            timed(home, VISIVO_TELEMETRY_ENDPOINT=url)
            assert len(collector.requests) == failed + 2

    def test_retry_after_pause_is_carried(self, home: Path) -> None:
        """A 429 with Retry-After pauses the next processes too, counted as paused."""
        with Collector() as collector:
            collector.script(Reply(429, {"Retry-After": "120"}))
            timed(home, VISIVO_TELEMETRY_ENDPOINT=collector.url)
            _, stderr = timed(
                home, VISIVO_TELEMETRY_ENDPOINT=collector.url, VISIVO_TELEMETRY_SINK="http,stderr"
            )
            assert len(collector.requests) == 1
        assert f"1 dropped ({PAUSED}: 1)" in stderr
        assert entry_for(home, collector.url)["failures"] == 0


class TestHarmless:
    @pytest.mark.parametrize("problem", ["corrupt", "directory", "unwritable"])
    def test_broken_state_never_breaks_the_host(self, home: Path, problem: str) -> None:
        """A corrupt file, a directory in its place or a read-only ~/.visivo: no backoff,
        no output, and the program's own exit status."""
        code = EMIT_AND_EXIT + "raise SystemExit(3)\n"
        state = state_path(home)
        state.parent.mkdir()
        if problem == "corrupt":
            state.write_bytes(b'{"version": 1, "destinations": {"\xff')
        elif problem == "directory":
            state.mkdir()
        with Collector() as collector:
            collector.default = Reply(500)
            env = clean_env(home, VISIVO_TELEMETRY_ENDPOINT=collector.url)
            broken = unwritable(state.parent) if problem == "unwritable" else nullcontext()
            with broken:
                for _ in range(2):
                    done = run_python(code, env=env, cwd=home)
                    assert (done.returncode, done.stdout, done.stderr) == (3, "", "")
            if problem == "corrupt":
                # Read as "no backoff", then rewritten by the first outcome: the second
                # process skips.
                assert len(collector.requests) == 2
                assert read_state(home)[destination_key(collector.url)]["failures"] == 1
            else:
                assert len(collector.requests) == 4  # no backoff could be recorded


AUDIT = textwrap.dedent(
    """
    import sys, visivo.telemetry as telemetry
    from visivo.events import command_finished
    touched = []
    def audit(event, args):
        if event in ("open", "os.mkdir", "os.replace", "os.rename", "os.remove", "os.listdir"):
            if "telemetry-delivery" in str(args[0]) or ".visivo" in str(args[0]):
                touched.append((event, str(args[0])))
    sys.addaudithook(audit)
    telemetry.start()
    {emit}
    telemetry.shutdown(1.0)
    print(touched)
    """
)


class TestOnlyWhenSending:
    @pytest.mark.parametrize("env", [{"VISIVO_TELEMETRY_DISABLED": "1"}, {"DO_NOT_TRACK": "1"}])
    def test_disabled_neither_reads_nor_writes(self, home: Path, env: dict[str, str]) -> None:
        """Disabled telemetry opens no state file, even one recording a backoff."""
        with BlackHole() as hole:
            seed_backoff(home, hole.url)
            before = state_path(home).read_bytes()
            code = AUDIT.format(
                emit="command_finished.send(None, command='run', duration_ms=1.0, success=True)"
            )
            done = run_python(
                code, env=clean_env(home, VISIVO_TELEMETRY_ENDPOINT=hole.url, **env), cwd=home
            )
        assert (done.returncode, done.stdout, done.stderr) == (0, "[]\n", "")
        assert state_path(home).read_bytes() == before

    def test_process_that_sent_nothing_creates_nothing(self, home: Path) -> None:
        """An enabled process that emitted no event never touches the state file."""
        with BlackHole() as hole:
            done = run_python(
                AUDIT.format(emit="pass"),
                env=clean_env(home, VISIVO_TELEMETRY_ENDPOINT=hole.url),
                cwd=home,
            )
        assert (done.returncode, done.stderr) == (0, "")
        assert "telemetry-delivery" not in done.stdout
        assert not (home / ".visivo").exists()


class TestDebugSinks:
    def test_console_and_file_sinks_are_never_skipped(self, home: Path) -> None:
        """In a backoff, stderr and file sinks still get the event; the summary says why."""
        events = home / "events.jsonl"
        with BlackHole() as hole:
            seed_backoff(home, hole.url)
            _, stderr = timed(
                home,
                VISIVO_TELEMETRY_ENDPOINT=hole.url,
                VISIVO_TELEMETRY_SINK=f"http,stderr,file:{events}",
            )
            assert hole.accepted == 0
        lines = stderr.splitlines()
        assert json.loads(lines[0])["properties"]["command"] == "run"
        assert lines[1] == f"visivo-telemetry: 1 event: 0 sent, 1 dropped ({OFFLINE_BACKOFF}: 1)"
        assert "status --retry-now" in lines[2]
        assert len(events.read_text().splitlines()) == 1

    def test_memory_sink_is_never_skipped(self, home: Path) -> None:
        """Beside a skipped http sink, the memory sink receives every event."""
        with BlackHole() as hole:
            seed_backoff(home, hole.url)
            env = {"VISIVO_TELEMETRY_ENDPOINT": hole.url, "VISIVO_TELEMETRY_SINK": "http,memory"}
            assert runtime.start(home, env=env, home=home).enabled
            telemetry_sink = runtime.active_sink()
            from visivo.events import command_finished

            command_finished.send(None, command="run", duration_ms=1.0, success=True)
            assert runtime.flush(2.0)
            memory = [m for m in getattr(telemetry_sink, "sinks", ()) if isinstance(m, MemorySink)]
            assert [e.properties.command for e in memory[0].envelopes()] == ["run"]
            assert runtime.counters().dropped == {OFFLINE_BACKOFF: 1}
            assert hole.accepted == 0


class TestStatus:
    def test_status_shows_the_backoff_and_retry_now_clears_it(self, home: Path) -> None:
        """status says until when and why; --retry-now clears it and the next command sends."""
        with BlackHole() as hole:
            env = clean_env(home, VISIVO_TELEMETRY_ENDPOINT=hole.url)
            seed_backoff(home, hole.url)
            shown = run_cli(["status"], env=env, cwd=home, check=True).stdout
            line = next(x for x in shown.splitlines() if x.startswith("Delivery:"))
            assert line.startswith("Delivery: http: paused until ")
            assert line.endswith("after 1 failure (timed out); never delivered")
            report = json.loads(run_cli(["status", "--json"], env=env, cwd=home).stdout)
            (destination,) = report["delivery"]
            assert destination["url"] == hole.url
            assert destination["sink"] == "http"
            assert (destination["state"], destination["failures"]) == ("backoff", 1)
            assert destination["reason"] == "timeout"
            assert hole.accepted == 0  # neither status command sent anything

            # (its own event goes to stderr only, so that the next command is the retry)
            debug = {**env, "VISIVO_TELEMETRY_SINK": "stderr"}
            cleared = run_cli(["status", "--retry-now"], env=debug, cwd=home, check=True)
            assert cleared.stdout.startswith("Delivery backoff cleared")
            assert entry_for(home, hole.url) == {
                "failures": 0,
                "until": 0,
                "reason": "",
                "last_success": None,
                "lease_until": 0,
            }
            timed(home, VISIVO_TELEMETRY_ENDPOINT=hole.url)
            assert wait_accepted(hole, 1) == 1
