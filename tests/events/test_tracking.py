"""track_command: timing, exit semantics, and the exception always passes on."""

from __future__ import annotations

import json
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import click
import pytest

from tests.support import clean_env, run_python
from visivo.events import command_finished, command_started, current_command, track_command
from visivo.events.signals import COMMAND_FINISHED_KEYWORDS
from visivo.events.tracking import TRACKER_FIELDS
from visivo.telemetry import runtime
from visivo.telemetry.sinks.memory import MemorySink


@pytest.fixture
def sent() -> Iterator[list[dict[str, Any]]]:
    received: list[dict[str, Any]] = []

    def receiver(sender: object, **payload: Any) -> None:
        received.append(payload)

    with command_finished.connected_to(receiver):
        yield received


def test_success(sent: list[dict[str, Any]]) -> None:
    """A block that returns is a success with a non-negative duration."""
    with track_command("run") as cmd:
        cmd.jobs = 3
        cmd.object_counts = {"chart": 1}
    (payload,) = sent
    assert payload["command"] == "run"
    assert payload["success"] is True
    assert payload["error"] is None
    assert payload["duration_ms"] >= 0
    assert payload["jobs"] == 3
    assert payload["object_counts"] == {"chart": 1}


def test_exception_propagates_and_fails(sent: list[dict[str, Any]]) -> None:
    """An exception is reported as failure and re-raised unchanged."""
    error = ValueError("secret")
    with pytest.raises(ValueError, match="secret") as caught, track_command("run"):
        raise error
    assert caught.value is error
    assert sent[0]["success"] is False
    assert sent[0]["error"] is error


@pytest.mark.parametrize(
    ("error", "success"),
    [
        (SystemExit(0), True),
        (SystemExit(None), True),
        (SystemExit(2), False),
        (SystemExit("message"), False),
        (click.exceptions.Exit(0), True),
        (click.exceptions.Exit(3), False),
        (KeyboardInterrupt(), False),
        (click.Abort(), False),
    ],
)
def test_exit_semantics(sent: list[dict[str, Any]], error: BaseException, success: bool) -> None:
    """Exit code 0 is success; other exits, Ctrl-C and Abort are failures."""
    with pytest.raises(type(error)), track_command("run"):
        raise error
    assert sent[0]["success"] is success


def test_decorator_tracks_each_call(sent: list[dict[str, Any]]) -> None:
    """As a decorator, every call is one command, and current_command reaches it."""

    @track_command("compile")
    def compile_project(n: int) -> int:
        current_command().object_counts = {"chart": n}
        return n * 2

    assert compile_project(2) == 4
    assert compile_project(3) == 6
    assert [p["object_counts"] for p in sent] == [{"chart": 2}, {"chart": 3}]


def test_current_command_outside_is_harmless(sent: list[dict[str, Any]]) -> None:
    """Outside a tracked command, current_command() is a detached tracker."""
    current_command().jobs = 5
    assert sent == []


def test_discard_sends_nothing(sent: list[dict[str, Any]]) -> None:
    """A discarded run sends no command_finished."""
    with track_command("run") as cmd:
        cmd.discard()
    assert sent == []


def test_started_is_sent(sent: list[dict[str, Any]]) -> None:
    """command_started carries the command name."""
    started: list[str] = []

    def receiver(sender: object, **payload: Any) -> None:
        started.append(payload["command"])

    with command_started.connected_to(receiver), track_command("run"):
        pass
    assert started == ["run"]


def test_no_receivers_no_work() -> None:
    """With nobody listening, nothing is sent and nothing fails."""
    assert not command_finished.receivers
    with track_command("run"):
        pass


class _RaisingCode:
    """An exit code whose comparison raises, as a buggy host object might."""

    def __eq__(self, other: object) -> bool:
        raise RuntimeError("comparison exploded")

    __hash__ = object.__hash__


class _OddInt(int):
    """An int exit code whose own ``==`` raises."""

    def __eq__(self, other: object) -> bool:
        raise RuntimeError("comparison exploded")

    __hash__ = int.__hash__


@pytest.mark.parametrize(
    "error",
    [
        SystemExit(_RaisingCode()),
        SystemExit(_OddInt(0)),
        click.exceptions.Exit(_OddInt(3)),  # type: ignore[arg-type]
    ],
)
def test_exit_code_with_raising_comparison_reaches_host_unchanged(
    sent: list[dict[str, Any]], error: BaseException
) -> None:
    """An exit whose code's == raises reaches the host as itself, and an event is sent."""
    with pytest.raises(type(error)) as caught, track_command("run"):
        raise error
    assert caught.value is error
    assert len(sent) == 1


def test_int_subclass_zero_is_a_clean_exit(sent: list[dict[str, Any]]) -> None:
    """SystemExit(False) and a zero int subclass count as success, as Python exits 0."""
    for code in (False, _OddInt(0)):
        with pytest.raises(SystemExit), track_command("run"):
            raise SystemExit(code)
    assert [payload["success"] for payload in sent] == [True, True]


@pytest.fixture
def memory() -> Iterator[MemorySink]:
    """The real pipeline into a memory sink."""
    sink = MemorySink()
    runtime.start_with_sink(sink)
    try:
        yield sink
    finally:
        runtime.reset()


def test_object_counts_are_copied_when_the_command_ends(memory: MemorySink) -> None:
    """A mutation of object_counts after the command ended is not what gets sent."""
    counts = {"chart": 3}
    with track_command("compile") as cmd:
        cmd.object_counts = counts
    counts["chart"] = 999
    counts["trace"] = 1
    assert runtime.flush(5.0)
    (envelope,) = memory.wire()
    assert envelope["properties"]["object_counts"] == {"chart": 3}


def test_concurrent_mutation_never_drops_the_event(memory: MemorySink) -> None:
    """A thread that keeps changing object_counts while events are scrubbed loses no event."""
    # Keys the scrubber rejects make it walk the whole mapping, a long window for a change.
    counts: dict[str, int] = {f"Not A Type {i}": i for i in range(5000)}
    counts["chart"] = 1
    stop = threading.Event()

    def churn() -> None:
        deadline = time.monotonic() + 5.0
        i = 0
        while not stop.is_set() and time.monotonic() < deadline:
            counts[f"extra_{i % 50}"] = i
            counts.pop(f"extra_{(i + 25) % 50}", None)
            i += 1

    worker = threading.Thread(target=churn)
    interval = sys.getswitchinterval()
    sys.setswitchinterval(1e-5)  # switch threads often, so the change lands mid-scrub
    worker.start()
    try:
        for _ in range(400):
            command_finished.send("test", command="compile", object_counts=counts)
        assert runtime.flush(5.0)
    finally:
        stop.set()
        worker.join(5.0)
        sys.setswitchinterval(interval)
    assert len(memory.wire()) == 400
    assert runtime.counters().dropped.get("invalid_payload", 0) == 0


def test_unknown_field_warns_once_and_is_not_sent(
    sent: list[dict[str, Any]], capsys: pytest.CaptureFixture[str]
) -> None:
    """Setting a field the schema lacks warns once on stderr, sends nothing, and goes on."""
    with track_command("run") as cmd:
        cmd.files_in_process_test = 3
        current_command().files_in_process_test = 4
        cmd.jobs = 2
    assert sent[0]["jobs"] == 2
    assert "files_in_process_test" not in sent[0]
    err = capsys.readouterr().err
    assert err.count("files_in_process_test") == 1
    assert "not in the schema; see CONTRIBUTING 'Adding a field'" in err
    with pytest.raises(AttributeError):
        _ = cmd.files_in_process_test


def test_tracker_sends_every_command_finished_keyword(sent: list[dict[str, Any]]) -> None:
    """The tracker sends exactly the keywords command_finished declares, fields unset as None."""
    with track_command("run"):
        pass
    assert set(sent[0]) == set(COMMAND_FINISHED_KEYWORDS)
    assert set(TRACKER_FIELDS) < set(COMMAND_FINISHED_KEYWORDS)
    assert all(sent[0][name] is None for name in TRACKER_FIELDS)


UNKNOWN_FIELD_SCRIPT = """
import visivo.telemetry as telemetry
from visivo.events import current_command, track_command

telemetry.start()
with track_command("run") as cmd:
    cmd.filez_typo = 3
    current_command().filez_typo = 4
    cmd.jobs = 2
print("command went on")
"""


def test_unknown_field_in_a_real_process(tmp_path: Path) -> None:
    """In a real process an unknown field warns once, is not sent, and the command succeeds."""
    env = clean_env(tmp_path, VISIVO_TELEMETRY_SINK="stdout")
    done = run_python(UNKNOWN_FIELD_SCRIPT, env=env, cwd=tmp_path)
    assert done.returncode == 0, done.stderr
    lines = done.stdout.splitlines()
    assert lines[0] == "command went on"
    (event,) = [json.loads(line) for line in lines if line.startswith("{")]
    assert event["properties"]["jobs"] == 2
    assert "filez_typo" not in json.dumps(event)
    assert done.stderr.count("current_command().filez_typo") == 1
    assert "not in the schema; see CONTRIBUTING 'Adding a field'" in done.stderr
