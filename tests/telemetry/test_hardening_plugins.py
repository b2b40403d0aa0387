"""Plugin sinks, installed for real as a distribution, cannot block or end the host."""

from __future__ import annotations

import json
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import pytest

from tests.support import clean_env, run
from visivo.telemetry.sinks.registry import ENTRY_POINT_GROUP

# A plugin module with one misbehaving sink factory per entry point. Blocking calls wait
# on an event nobody sets, bounded so that a regression fails by timeout, not forever.
PLUGIN_MODULE = textwrap.dedent(
    """
    import threading

    STUCK_S = 20


    def blocking_factory(options):
        threading.Event().wait(STUCK_S)


    def exiting_factory(options):
        raise SystemExit(3)


    def raising_factory(options):
        return Raising()


    def slow_factory(options):
        return Slow()


    def blocking_close_factory(options):
        return BlockingClose()


    def counting_factory(options):
        return Counting()


    class Raising:
        def send(self, batch):
            raise ValueError("boom from the plugin")

        def close(self, timeout):
            pass


    class Slow:
        def send(self, batch):
            threading.Event().wait(STUCK_S)

        def close(self, timeout):
            pass


    class BlockingClose:
        def send(self, batch):
            pass

        def close(self, timeout):
            threading.Event().wait(STUCK_S)


    class Snapshot:
        def __init__(self, sent, dropped):
            self.events_sent = sent
            self.events_dropped = {"plugin_said_no": dropped} if dropped else {}
            self.events_failed = {}


    class Counting:
        # Delivers one event of each batch, drops the rest, and counts both.

        def __init__(self):
            self.sent = self.dropped = 0

        def send(self, batch):
            self.sent += 1
            self.dropped += len(batch) - 1

        def counters(self):
            return Snapshot(self.sent, self.dropped)

        def close(self, timeout):
            pass
    """
)

ENTRY_POINTS = {
    "blockfactory": "blocking_factory",
    "exitfactory": "exiting_factory",
    "raising": "raising_factory",
    "slowplugin": "slow_factory",
    "blockclose": "blocking_close_factory",
    "counting": "counting_factory",
}

# Starts telemetry, tracks one command, reports, then exits (running the exit path).
HOST = textwrap.dedent(
    """
    import json, sys, time
    import visivo.telemetry as telemetry
    from visivo.events import track_command

    began = time.monotonic()
    telemetry.start()
    start_s = time.monotonic() - began
    with track_command("run"):
        pass
    if "--flush" in sys.argv:
        telemetry.flush(3.0)
    snapshot = telemetry.counters()
    report = {"start_s": start_s, "errors": dict(snapshot.errors), "failed": dict(snapshot.failed),
              "sent": snapshot.sent, "dropped": dict(snapshot.dropped)}
    print(json.dumps(report), flush=True)
    """
)


@pytest.fixture(scope="module")
def plugin_site(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A directory holding a real installed distribution that registers the plugins."""
    site = tmp_path_factory.mktemp("site")
    (site / "hostile_sinks.py").write_text(PLUGIN_MODULE)
    dist_info = site / "hostile_sinks-0.1.dist-info"
    dist_info.mkdir()
    metadata = "Metadata-Version: 2.1\nName: hostile-sinks\nVersion: 0.1\n"
    (dist_info / "METADATA").write_text(metadata)
    lines = [f"{name} = hostile_sinks:{factory}" for name, factory in ENTRY_POINTS.items()]
    (dist_info / "entry_points.txt").write_text(f"[{ENTRY_POINT_GROUP}]\n" + "\n".join(lines))
    return site


def run_host(
    site: Path, tmp_path: Path, sink: str, *args: str, **env: str
) -> tuple[subprocess.CompletedProcess[str], float]:
    """Run HOST with the plugins installed; return it and the seconds it took."""
    environment = clean_env(tmp_path, VISIVO_TELEMETRY_SINK=sink, **env)
    environment["PYTHONPATH"] = f"{site}{':'}{environment['PYTHONPATH']}"
    began = time.monotonic()
    done = run([sys.executable, "-c", HOST, *args], env=environment, cwd=tmp_path, timeout=15)
    return done, time.monotonic() - began


def events_on(stream: str) -> list[str]:
    """The commands of the JSON event lines in ``stream``."""
    lines = [line for line in stream.splitlines() if line.startswith("{")]
    return [json.loads(line)["properties"]["command"] for line in lines]


def test_blocking_factory_blocks_neither_start_nor_exit(plugin_site: Path, tmp_path: Path) -> None:
    """A factory that never returns costs start() nothing and exit at most the budget."""
    done, elapsed = run_host(plugin_site, tmp_path, "blockfactory,stderr")
    assert done.returncode == 0, done.stderr
    report = json.loads(done.stdout)
    assert report["start_s"] < 1.0  # the factory blocks for 20 s
    assert events_on(done.stderr) == ["run"]
    assert elapsed < 5.0, f"the host took {elapsed:.1f} s"


def test_system_exit_in_a_factory_is_contained(plugin_site: Path, tmp_path: Path) -> None:
    """SystemExit raised by a plugin's factory never ends the host; it is counted."""
    done, _ = run_host(plugin_site, tmp_path, "exitfactory,stderr", "--flush")
    assert done.returncode == 0, done.stderr
    report = json.loads(done.stdout)
    assert report["errors"] == {"sink 'exitfactory': factory": 1}
    assert report["failed"] == {"PluginError": 1}
    assert events_on(done.stderr) == ["run"]
    assert "Traceback" not in done.stderr


def test_slow_plugin_before_stderr_still_prints(plugin_site: Path, tmp_path: Path) -> None:
    """A slow plugin listed before ``stderr`` neither silences it nor delays exit."""
    done, elapsed = run_host(plugin_site, tmp_path, "slowplugin,stderr", "--flush")
    assert done.returncode == 0, done.stderr
    assert events_on(done.stderr) == ["run"]
    assert json.loads(done.stdout)["failed"] == {"PluginTimeoutError": 1}
    assert elapsed < 5.0, f"the host took {elapsed:.1f} s"


def test_blocking_close_does_not_delay_exit(plugin_site: Path, tmp_path: Path) -> None:
    """A plugin whose close never returns delays exit by at most the exit budget."""
    baseline, base_s = run_host(plugin_site, tmp_path, "null")
    assert baseline.returncode == 0, baseline.stderr
    done, elapsed = run_host(plugin_site, tmp_path, "blockclose")
    assert done.returncode == 0, done.stderr
    assert done.stderr == ""
    assert elapsed - base_s < 1.5, f"exit took {elapsed - base_s:.1f} s longer"


def test_unknown_name_lists_installed_plugins(plugin_site: Path, tmp_path: Path) -> None:
    """The unknown-sink warning lists installed plugins beside the built-in names."""
    done, _ = run_host(plugin_site, tmp_path, "nosuch")
    assert done.returncode == 0, done.stderr
    (warning,) = done.stderr.splitlines()
    assert "unknown sink 'nosuch'" in warning
    known = warning.partition("known: ")[2].rstrip(")").split(", ")
    assert set(ENTRY_POINTS) | {"stdout", "stderr", "file"} <= set(known)


@pytest.mark.parametrize("debug", ["1", ""])
def test_debug_switch_prints_swallowed_tracebacks(
    plugin_site: Path, tmp_path: Path, debug: str
) -> None:
    """With VISIVO_TELEMETRY_DEBUG=1 a plugin's swallowed exception prints its traceback."""
    done, _ = run_host(plugin_site, tmp_path, "raising", "--flush", VISIVO_TELEMETRY_DEBUG=debug)
    assert done.returncode == 0, done.stderr
    report = json.loads(done.stdout)
    assert report["errors"] == {"sink 'raising': send": 1}
    assert report["failed"] == {"ValueError": 1}
    if debug:
        assert "Traceback (most recent call last)" in done.stderr
        assert "hostile_sinks.py" in done.stderr
        assert "ValueError: boom from the plugin" in done.stderr
    else:
        assert done.stderr == ""


def test_a_plugins_own_counts_reach_telemetry_counters(plugin_site: Path, tmp_path: Path) -> None:
    """A plugin that counts what it delivered is read back, from its own thread."""
    code = HOST.replace(
        'with track_command("run"):\n    pass\n',
        'for _ in range(3):\n    with track_command("run"):\n        pass\n',
    )
    assert code != HOST
    environment = clean_env(tmp_path, VISIVO_TELEMETRY_SINK="counting")
    environment["PYTHONPATH"] = f"{plugin_site}:{environment['PYTHONPATH']}"
    done = run([sys.executable, "-c", code, "--flush"], env=environment, cwd=tmp_path, timeout=15)
    assert done.returncode == 0, done.stderr
    report = json.loads(done.stdout)
    assert report["sent"] == 1
    assert report["dropped"] == {"plugin_said_no": 2}
