"""Local sinks under a hostile host: a fork mid-write, a short write, a closed pipe."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from tests.support import clean_env, run

POSIX_ONLY = pytest.mark.skipif(sys.platform == "win32", reason="POSIX process model")

# The parent's batcher thread blocks in the file sink's open() of a FIFO, holding the
# sink's lock, while another thread forks. The child must still deliver its own event.
FORK_MID_WRITE = textwrap.dedent(
    """
    import json, os, select, sys, threading, time
    import visivo.telemetry as telemetry
    from visivo.events import track_command

    fifo = sys.argv[1]
    telemetry.start()
    with track_command("parent"):
        pass
    assert not telemetry.flush(0.3), "the write should be stuck opening the FIFO"

    def fork():
        pid = os.fork()
        if pid == 0:
            with track_command("child"):
                pass
            os._exit(0 if telemetry.shutdown(2.0) else 1)
        children.append(pid)

    children = []
    forker = threading.Thread(target=fork)
    forker.start()
    forker.join()
    reader = os.open(fifo, os.O_RDWR)  # unblocks every writer; never reads EOF
    text, deadline = b"", time.monotonic() + 3.0
    while text.count(b"\\n") < 2 and time.monotonic() < deadline:
        if select.select([reader], [], [], deadline - time.monotonic())[0]:
            text += os.read(reader, 65536)
    _, status = os.waitpid(children[0], 0)
    commands = [json.loads(line)["properties"]["command"] for line in text.splitlines()]
    child_exit = os.waitstatus_to_exitcode(status)
    print(json.dumps({"commands": sorted(commands), "child_exit": child_exit}))
    """
)


@POSIX_ONLY
def test_fork_while_file_sink_writes(tmp_path: Path) -> None:
    """A child forked while another thread holds the file sink mid-write still delivers."""
    fifo = tmp_path / "events.fifo"
    os.mkfifo(fifo)
    env = clean_env(tmp_path, VISIVO_TELEMETRY_SINK=f"file:{fifo}")
    done = run([sys.executable, "-c", FORK_MID_WRITE, str(fifo)], env=env, cwd=tmp_path, timeout=15)
    assert done.returncode == 0, done.stderr
    assert json.loads(done.stdout) == {"commands": ["child", "parent"], "child_exit": 0}
    assert done.stderr == ""


# A thread of the parent holds the memory sink's lock across the fork.
FORK_MEMORY_LOCKED = textwrap.dedent(
    """
    import os, threading
    from visivo.telemetry.sinks.memory import MemorySink

    sink = MemorySink()
    held, release = threading.Event(), threading.Event()

    def hold():
        with sink._lock:
            held.set()
            release.wait(10)

    threading.Thread(target=hold, daemon=True).start()
    held.wait(10)
    pid = os.fork()
    if pid == 0:
        sink.clear()  # would wait forever on the parent's held lock
        os._exit(len(sink.wire()))
    release.set()
    print(os.waitstatus_to_exitcode(os.waitpid(pid, 0)[1]))
    """
)


@POSIX_ONLY
def test_fork_while_memory_sink_is_locked(tmp_path: Path) -> None:
    """A child forked while another thread holds the memory sink's lock can use the sink."""
    code = [sys.executable, "-c", FORK_MEMORY_LOCKED]
    done = run(code, env=clean_env(tmp_path), cwd=tmp_path, timeout=10)
    assert done.returncode == 0, done.stderr
    assert done.stdout == "0\n"


# Events one batch at a time into a file that may not grow past LIMIT bytes.
FILE_SIZE_LIMIT = textwrap.dedent(
    """
    import json, resource, signal, sys
    import visivo.telemetry as telemetry
    from visivo.events import track_command

    signal.signal(signal.SIGXFSZ, signal.SIG_IGN)  # get EFBIG / short writes, not death
    limit = int(sys.argv[1])
    resource.setrlimit(resource.RLIMIT_FSIZE, (limit, limit))
    telemetry.start()
    for n in range(8):
        with track_command("run"):
            pass
        telemetry.flush(2.0)
    snapshot = telemetry.counters()
    print(json.dumps({"sent": snapshot.sent, "failed": dict(snapshot.failed)}))
    """
)


@POSIX_ONLY
def test_short_write_leaves_no_torn_line(tmp_path: Path) -> None:
    """Under a file-size limit every line in the file parses and each loss is counted."""
    path = tmp_path / "events.jsonl"
    env = clean_env(tmp_path, VISIVO_TELEMETRY_SINK=f"file:{path}", PYTHONDONTWRITEBYTECODE="1")
    # Room for a few ~300-byte lines, then a partial one.
    done = run([sys.executable, "-c", FILE_SIZE_LIMIT, "1000"], env=env, cwd=tmp_path)
    assert done.returncode == 0, done.stderr
    report = json.loads(done.stdout)
    lines = path.read_bytes().split(b"\n")
    assert lines[-1] == b"", "the file ends with a whole line"
    parsed = [json.loads(line) for line in lines[:-1]]
    assert len(parsed) == report["sent"] >= 1
    assert sum(report["failed"].values()) == 8 - report["sent"] > 0
    assert done.stderr == ""


# Prints on the stream named in argv[1], lets the test read that and close the pipe,
# then emits an event (and, with a delivering sink beside a console one, an exit summary).
CLOSED_PIPE = textwrap.dedent(
    """
    import sys
    import visivo.telemetry as telemetry
    from visivo.events import track_command

    telemetry.start()
    print("hello", file=getattr(sys, sys.argv[1]), flush=True)
    sys.stdin.readline()
    with track_command("run"):
        pass
    telemetry.flush(2.0)
    """
)


@POSIX_ONLY
@pytest.mark.parametrize("interpreter_flags", [(), ("-X", "dev", "-W", "error")])
@pytest.mark.parametrize(
    ("closed", "sink"),
    [("stdout", "stdout"), ("stdout", "stdout,stderr"), ("stderr", "stderr,memory")],
)
def test_console_output_into_closed_pipe(
    tmp_path: Path, closed: str, sink: str, interpreter_flags: tuple[str, ...]
) -> None:
    """Debug output whose reader left goes quiet, and the host still exits 0."""
    env = clean_env(tmp_path, VISIVO_TELEMETRY_SINK=sink)
    env.pop("PYTHONUNBUFFERED", None)
    host = subprocess.Popen(
        [sys.executable, *interpreter_flags, "-c", CLOSED_PIPE, closed],
        env=env,
        cwd=tmp_path,
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
    )
    pipes = {"stdout": host.stdout, "stderr": host.stderr}
    closing = pipes.pop(closed)
    (other,) = pipes.values()
    assert host.stdin is not None
    assert closing is not None
    assert other is not None
    try:
        assert closing.readline() == b"hello\n"
        closing.close()  # the reader is gone, like `| head -1`
        host.stdin.write(b"go\n")
        host.stdin.close()
        assert host.wait(timeout=15) == 0
        output = other.read().decode()
    finally:
        host.kill()
        host.wait()
    assert "BrokenPipeError" not in output
    assert "Exception ignored" not in output
    if "," not in sink:
        assert output == ""
