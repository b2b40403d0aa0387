"""The exit path under signals: Ctrl-C during the exit wait, and SIGTERM."""

from __future__ import annotations

import json
import signal
import subprocess
import sys
import textwrap
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest

from tests.servers import BlackHole, Collector
from tests.support import clean_env, run_python

pytestmark = pytest.mark.skipif(sys.platform == "win32", reason="POSIX signals")

# Tracks a command, then exits with the status given in argv[1]. The atexit callback
# registered after start() runs just before telemetry's exit wait and announces it.
EXIT_WAIT = textwrap.dedent(
    """
    import atexit, sys
    import visivo.telemetry as telemetry
    from visivo.events import track_command

    telemetry.start()
    with track_command("run"):
        pass
    atexit.register(print, "exiting", flush=True)
    sys.exit(int(sys.argv[1]))
    """
)


@contextmanager
def host(code: str, *args: str, env: dict[str, str], cwd: Path) -> Iterator[subprocess.Popen[str]]:
    """A Python host process with piped stdout and stderr, killed on the way out."""
    process = subprocess.Popen(
        [sys.executable, "-c", code, *args],
        env=env,
        cwd=cwd,
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        yield process
    finally:
        process.kill()
        process.communicate()


@pytest.mark.parametrize("status", [0, 3])
def test_ctrl_c_during_exit_wait_is_silent(tmp_path: Path, status: int) -> None:
    """Ctrl-C while exit waits on a black hole ends the wait at once, silently, status kept."""
    with BlackHole() as hole:
        env = clean_env(tmp_path, VISIVO_TELEMETRY_ENDPOINT=hole.url)
        with host(EXIT_WAIT, str(status), env=env, cwd=tmp_path) as process:
            assert process.stdout is not None
            assert process.stdout.readline() == "exiting\n"
            with pytest.raises(subprocess.TimeoutExpired):
                process.wait(0.1)  # still waiting on the black hole
            interrupted = time.monotonic()
            process.send_signal(signal.SIGINT)
            _, stderr = process.communicate(timeout=10)
            elapsed = time.monotonic() - interrupted
    assert stderr == ""
    assert process.returncode == status
    assert elapsed < 0.5, f"took {elapsed:.2f} s after Ctrl-C"


# Starts telemetry, tracks a command, says so, then waits for the test on stdin.
SIGTERMED = textwrap.dedent(
    """
    import signal, sys
    import visivo.telemetry as telemetry
    from visivo.events import track_command

    if sys.argv[1] == "host-handler":
        def handler(signum, frame):
            print("host handler", flush=True)
            sys.exit(0)
        signal.signal(signal.SIGTERM, handler)
    telemetry.start()
    with track_command("serve"):
        pass
    print("ready", flush=True)
    sys.stdin.readline()
    """
)


def terminate(tmp_path: Path, mode: str) -> tuple[subprocess.Popen[str], str, str, float, list]:
    """Run SIGTERMED against a collector and SIGTERM it once ready.

    Returns the process, its stdout and stderr, the seconds from SIGTERM to its end, and
    the batches the collector received.
    """
    with Collector() as collector:
        env = clean_env(tmp_path, VISIVO_TELEMETRY_ENDPOINT=collector.url)
        with host(SIGTERMED, mode, env=env, cwd=tmp_path) as process:
            assert process.stdout is not None
            assert process.stdout.readline() == "ready\n"
            terminated = time.monotonic()
            process.send_signal(signal.SIGTERM)
            stdout, stderr = process.communicate(timeout=10)
            elapsed = time.monotonic() - terminated
        requests = collector.wait_for_requests(1, timeout=5)
    return process, stdout, stderr, elapsed, [request.json()["batch"] for request in requests]


def test_sigterm_delivers_the_last_batch(tmp_path: Path) -> None:
    """On SIGTERM the queued batch goes out and the process still dies of SIGTERM."""
    process, _, stderr, elapsed, batches = terminate(tmp_path, "no-handler")
    assert process.returncode == -signal.SIGTERM
    assert stderr == ""
    assert [[event["properties"]["command"] for event in batch] for batch in batches] == [["serve"]]
    assert elapsed < 1.5, f"took {elapsed:.2f} s after SIGTERM"


def test_sigterm_handler_of_the_host_is_respected(tmp_path: Path) -> None:
    """A host's own SIGTERM handler is kept and runs; telemetry then flushes at exit."""
    process, stdout, stderr, _, batches = terminate(tmp_path, "host-handler")
    assert stdout == "host handler\n"
    assert process.returncode == 0
    assert stderr == ""
    assert len(batches) == 1


# Which SIGTERM handler is in place after start() in each situation.
WHO_HANDLES = textwrap.dedent(
    """
    import json, os, signal, threading
    import visivo.telemetry as telemetry
    from visivo.telemetry import runtime

    def name():
        handler = signal.getsignal(signal.SIGTERM)
        return "default" if handler is signal.SIG_DFL else getattr(handler, "__name__", "?")

    def host_handler(signum, frame):
        pass

    seen = {}
    os.environ["VISIVO_TELEMETRY_DISABLED"] = "1"
    telemetry.start()
    seen["disabled"] = name()
    runtime.reset()
    del os.environ["VISIVO_TELEMETRY_DISABLED"]
    thread = threading.Thread(target=telemetry.start)
    thread.start()
    thread.join()
    seen["non-main thread"] = name()
    runtime.reset()
    signal.signal(signal.SIGTERM, host_handler)
    telemetry.start()
    seen["host handler first"] = name()
    runtime.reset()
    signal.signal(signal.SIGTERM, signal.SIG_DFL)
    telemetry.start()
    seen["no host handler"] = name()
    runtime.reset()
    seen["after reset"] = name()
    telemetry.start()
    signal.signal(signal.SIGTERM, host_handler)
    runtime.reset()
    seen["host handler later"] = name()
    print(json.dumps(seen))
    """
)


def test_sigterm_handler_is_installed_only_over_the_default(tmp_path: Path) -> None:
    """Only an enabled start() on the main thread, over SIG_DFL, installs the handler."""
    env = clean_env(tmp_path, VISIVO_TELEMETRY_SINK="null")
    done = run_python(WHO_HANDLES, env=env, cwd=tmp_path)
    assert done.returncode == 0, done.stderr
    assert json.loads(done.stdout) == {
        "disabled": "default",
        "non-main thread": "default",
        "host handler first": "host_handler",
        "no host handler": "_on_sigterm",
        "after reset": "default",
        "host handler later": "host_handler",
    }
