"""An offline afternoon: 20 short commands against an endpoint that never answers.

Run from the repository root: python benchmarks/bench_offline.py [--runs 20]

Each round runs the same tracked command four times, each in its own temporary HOME:
telemetry disabled (the floor), enabled with the null sink (the cost of enabled telemetry
without any network: reading the config files, the thread), enabled with the delivery
state kept between runs (the backoff), and enabled with the state file deleted before
every run (what every command paid before the backoff existed). The endpoint is a black
hole on 127.0.0.1 (accepts connections, never answers). Reports the total extra wall
time over the disabled runs. The package is byte-compiled first, as pip install does.

Then the cost of the state file itself: what start() pays to build the gate, and what
the telemetry thread pays to read the file, in a fresh interpreter.
"""

from __future__ import annotations

import argparse
import compileall
import os
import resource
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

from tests.servers import BlackHole  # noqa: E402 - needs the repository on sys.path

COMMAND = (
    "import visivo.telemetry as telemetry\n"
    "from visivo.events import track_command\n"
    "telemetry.start()\n"
    "with track_command('compile'):\n"
    "    pass\n"
)
STATE_COST = """
import time
import visivo.telemetry.runtime, visivo.telemetry.sinks.network.transport  # start() loads both
started = time.perf_counter()
from visivo.telemetry.sinks.gate import DeliveryGate
gate = DeliveryGate(__import__("pathlib").Path({state_dir!r}), {url!r})
built = time.perf_counter()
gate.backing_off()
first = time.perf_counter()
for _ in range(1000):
    gate.state.store.load()
warm = (time.perf_counter() - first) / 1000
print((built - started) * 1e3, (first - built) * 1e3, warm * 1e6, gate.backing_off())
"""


def cpu_s() -> float:
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


def run(env: dict[str, str], cwd: str) -> tuple[float, float]:
    """Wall and CPU seconds of one command."""
    started, cpu = time.monotonic(), cpu_s()
    subprocess.run(
        [sys.executable, "-c", COMMAND],
        env=env,
        cwd=cwd,
        stdin=subprocess.DEVNULL,
        capture_output=True,
        check=True,
    )
    return time.monotonic() - started, cpu_s() - cpu


def environment(home: str, **extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("VISIVO_TELEMETRY")}
    env.pop("DO_NOT_TRACK", None)
    env.pop("PYTHONDONTWRITEBYTECODE", None)  # measure an installed package, not compiling
    return {**env, "HOME": home, "PYTHONPATH": str(REPO), **extra}


def afternoon(runs: int) -> None:
    totals = {"disabled": 0.0, "null sink": 0.0, "backoff": 0.0, "no backoff": 0.0}
    cpu = dict.fromkeys(totals, 0.0)
    with BlackHole() as hole, tempfile.TemporaryDirectory() as tmp:
        homes = {name: Path(tmp, name.replace(" ", "_")) for name in totals}
        for home in homes.values():
            home.mkdir()
        envs = {
            "disabled": environment(str(homes["disabled"]), VISIVO_TELEMETRY_DISABLED="1"),
            "null sink": environment(str(homes["null sink"]), VISIVO_TELEMETRY_SINK="null"),
            "backoff": environment(str(homes["backoff"]), VISIVO_TELEMETRY_ENDPOINT=hole.url),
            "no backoff": environment(str(homes["no backoff"]), VISIVO_TELEMETRY_ENDPOINT=hole.url),
        }
        state = homes["no backoff"] / ".visivo" / "telemetry-delivery.json"
        for _ in range(runs):
            state.unlink(missing_ok=True)
            for name, env in envs.items():
                wall, used = run(env, str(homes[name]))
                totals[name] += wall
                cpu[name] += used
        connections = hole.accepted
    floor = totals["disabled"]
    print(
        f"{runs} commands against a black hole, Python {sys.version.split()[0]}, "
        f"{os.cpu_count()} CPUs"
    )
    print(f"{'case':<12} {'total s':>8} {'extra over disabled s':>22} {'CPU s':>6}")
    for name, total in totals.items():
        print(f"{name:<12} {total:8.2f} {total - floor:22.2f} {cpu[name]:6.2f}")
    print(f"connections to the black hole: {connections} (backoff: 1, no backoff: {runs})")
    extra = totals["backoff"] - floor
    verdict = "ok" if extra <= 1.5 else "MISSED"
    print(f"target: backoff extra <= 1.5 s for {runs} commands: {verdict}")
    beyond = totals["backoff"] - totals["null sink"]
    print(f"backoff beyond enabled telemetry with no network (null sink): {beyond:.2f} s")


def state_cost(samples: int = 15) -> None:
    with tempfile.TemporaryDirectory() as tmp:
        url = "http://127.0.0.1:9/"
        from visivo.telemetry.sinks.backoff import Entry, destination_key
        from visivo.telemetry.sinks.delivery_state import StateStore

        store = StateStore(Path(tmp))
        key = destination_key(url)
        store.update(lambda e: {key: Entry(failures=1, until=time.time() + 600, reason="dns")})
        code = STATE_COST.format(state_dir=tmp, url=url)
        rows = []
        for _ in range(samples):
            done = subprocess.run(
                [sys.executable, "-c", code],
                env=environment(tmp),
                capture_output=True,
                text=True,
                check=True,
            )
            built, first, warm, backing_off = done.stdout.split()
            assert backing_off == "True"
            rows.append((float(built), float(first), float(warm)))
    print(f"\nstate file cost, fresh interpreter, median of {samples}")
    print(
        f"start(): import the module and build the gate   "
        f"{statistics.median(r[0] for r in rows):6.2f} ms"
    )
    print(
        f"telemetry thread: first use (import, read)     "
        f"{statistics.median(r[1] for r in rows):6.2f} ms"
    )
    print(
        f"one more read of the file                       "
        f"{statistics.median(r[2] for r in rows):6.1f} µs"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=20)
    args = parser.parse_args()
    compileall.compile_dir(REPO / "visivo", quiet=1)  # as pip install does
    afternoon(args.runs)
    state_cost()


if __name__ == "__main__":
    main()
