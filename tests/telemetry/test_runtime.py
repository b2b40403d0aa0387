"""The facade in real processes: disabled is inert, enabled delivers at exit."""

from __future__ import annotations

import json
import textwrap
from collections import UserDict
from pathlib import Path
from typing import Any

import pytest

from tests.support import clean_env, run_python
from visivo.events import command_finished, track_command
from visivo.telemetry import runtime
from visivo.telemetry.sinks.memory import MemorySink

INERT_PROBE = textwrap.dedent(
    """
    import json, sys, threading
    opened = []
    sys.addaudithook(lambda event, args: opened.append(str(args[0])) if event == "open" else None)
    import visivo.telemetry as telemetry
    from visivo.events import command_finished
    decision = telemetry.start()
    threads = [t.name for t in threading.enumerate() if t is not threading.main_thread()]
    print(json.dumps({
        "enabled": decision.enabled, "decided_by": decision.decided_by,
        "threads": threads, "urllib3": "urllib3" in sys.modules,
        # Start-up cost a disabled process must not pay: YAML, cattrs, plugin lookup.
        "heavy": [m for m in ("ruamel.yaml", "cattrs", "importlib.metadata") if m in sys.modules],
        "receivers": len(command_finished.receivers),
        "opened": [p for p in opened if not p.endswith((".py", ".pyc", ".pth")) and "/" in p
                   and "site-packages" not in p and "python3" not in p],
    }))
    """
)


@pytest.mark.parametrize("env", [{"VISIVO_TELEMETRY_DISABLED": "true"}, {"DO_NOT_TRACK": "1"}])
def test_disabled_start_is_inert(tmp_path: Path, env: dict[str, str]) -> None:
    """Disabled: no receiver, no thread, no file opened; no HTTP, YAML or cattrs loaded."""
    home = tmp_path / "home"
    (home / ".visivo").mkdir(parents=True)
    (home / ".visivo" / "config.yml").write_text("telemetry_enabled: true\n")
    done = run_python(INERT_PROBE, env=clean_env(home, **env), cwd=tmp_path)
    assert done.returncode == 0, done.stderr
    report = json.loads(done.stdout)
    assert report == {
        "enabled": False,
        "decided_by": next(iter(env)),
        "threads": [],
        "urllib3": False,
        "heavy": [],
        "receivers": 0,
        "opened": [],
    }
    assert done.stderr == ""


def test_enabled_start_loads_no_http_stack_on_the_callers_thread(tmp_path: Path) -> None:
    """start() with the network sinks builds them without urllib3, urllib.request or email.

    Those load on the telemetry thread (or only for a NO_PROXY name or an HTTP-date
    Retry-After), so they never cost the host's start-up.
    """
    code = textwrap.dedent(
        """
        import json, sys
        import visivo.telemetry as telemetry
        assert telemetry.start().enabled
        heavy = ("urllib3", "urllib.request", "http.client", "email.utils")
        print(json.dumps(sorted(name for name in heavy if name in sys.modules)))
        """
    )
    env = clean_env(tmp_path, VISIVO_TELEMETRY_SINK="posthog,otlp,http")
    done = run_python(code, env=env, cwd=tmp_path)
    assert done.returncode == 0, done.stderr
    assert json.loads(done.stdout) == []


def test_file_sink_receives_events_at_exit(tmp_path: Path) -> None:
    """The Python API with the file: sink writes the scrubbed envelope when the process exits."""
    events = tmp_path / "events.jsonl"
    code = textwrap.dedent(
        """
        import visivo.telemetry as telemetry
        from visivo.events import track_command, command_finished
        assert telemetry.start().enabled
        with track_command("run") as cmd:
            cmd.jobs = 4
        command_finished.send(None, command="compile", duration_ms=2.0, success=True,
                              sql="select * from secrets")
        """
    )
    env = clean_env(tmp_path, VISIVO_TELEMETRY_SINK=f"file:{events}")
    done = run_python(code, env=env, cwd=tmp_path)
    assert done.returncode == 0, done.stderr
    assert done.stdout == done.stderr == ""
    lines = [json.loads(line) for line in events.read_text().splitlines()]
    assert [line["properties"]["command"] for line in lines] == ["run", "compile"]
    assert lines[0]["properties"]["jobs"] == 4
    assert "secrets" not in events.read_text()
    assert lines[0]["session_id"] == lines[1]["session_id"]


def test_typo_sink_sends_nothing_and_warns_once(tmp_path: Path) -> None:
    """An unknown sink name falls back to null with exactly one stderr line."""
    code = (
        "import visivo.telemetry as t\nfrom visivo.events import track_command\n"
        "t.start(); t.start()\nwith track_command('run'): pass\n"
    )
    done = run_python(code, env=clean_env(tmp_path, VISIVO_TELEMETRY_SINK="stdot"), cwd=tmp_path)
    assert done.returncode == 0
    assert done.stdout == ""
    assert done.stderr.count("\n") == 1
    assert "unknown sink 'stdot'" in done.stderr


class TestInProcess:
    def test_start_is_idempotent(self, tmp_path: Path) -> None:
        """A second start returns the same decision and builds nothing new."""
        env = {"VISIVO_TELEMETRY_SINK": "memory"}
        first = runtime.start(tmp_path, env=env, home=tmp_path)
        sink = runtime.active_sink()
        assert runtime.start(tmp_path, env=env, home=tmp_path) is first
        assert runtime.active_sink() is sink

    def test_receiver_errors_are_counted_never_raised(self) -> None:
        """A field whose scrubbing raises is counted and left out; its event is still sent."""

        class Exploding(UserDict[str, int]):
            # Not a dict, so it is not copied at capture; scrubbing reads it.
            def items(self) -> Any:
                raise RuntimeError("boom")

        sink = MemorySink()
        runtime.start_with_sink(sink)
        command_finished.send(None, command="run", object_counts=Exploding(), jobs=2)
        command_finished.send(None, command="compile")
        assert runtime.flush(2.0)
        counts = runtime.counters()
        assert counts.errors == {"scrub:object_counts": 1}
        assert counts.dropped == {}
        assert counts.sent == 2
        assert counts.enqueued == counts.sent + counts.lost + counts.queued
        assert [w["properties"] for w in sink.wire()] == [
            {"command": "run", "jobs": 2},
            {"command": "compile"},
        ]

    def test_exceptions_are_not_kept_alive(self) -> None:
        """The queued payload holds the exception's class, never the instance and its frames."""
        import gc
        import weakref

        class Boom(Exception):
            pass

        runtime.start_with_sink(MemorySink(), names=("memory",))
        error = Boom("secret")
        ref = weakref.ref(error)
        command_finished.send(None, command="run", success=False, error=error)
        del error
        gc.collect()
        assert ref() is None
        assert runtime.flush(2.0)

    def test_a_failing_warm_up_is_counted_and_delivery_goes_on(self) -> None:
        """A sink whose warm() raises is counted under errors; its events still arrive."""

        class ColdSink(MemorySink):
            def warm(self) -> None:
                raise OSError("no trust store")

        sink = ColdSink()
        runtime.start_with_sink(sink)
        with track_command("run"):
            pass
        assert runtime.flush(2.0)
        assert runtime.counters().errors == {"warm": 1}
        assert [w["properties"]["command"] for w in sink.wire()] == ["run"]

    def test_shutdown_stops_receiving(self) -> None:
        """After shutdown the receivers are gone and nothing more is captured."""
        sink = MemorySink()
        runtime.start_with_sink(sink)
        with track_command("run"):
            pass
        assert runtime.shutdown(1.0)
        with track_command("compile"):
            pass
        assert [w["properties"]["command"] for w in sink.wire()] == ["run"]
        assert not command_finished.receivers
        assert runtime.counters().batcher is not None
