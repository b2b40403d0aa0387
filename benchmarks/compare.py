"""Telemetry clients side by side: ours, the hand-rolled floor, posthog, segment and OTel.

Run from the repository root after ``pip install -e '.[bench]'``::

    python benchmarks/compare.py                   # full run, about 15 minutes
    python benchmarks/compare.py --smoke --out DIR # ours and the floor only, seconds

Every figure comes from fresh processes (benchmarks/peers/child.py) pointed at a
loopback collector in this process; each client runs through its documented API at its
defaults (one adapter per client in benchmarks/peers/). Within each round every
(client, case) runs once, in a shuffled order, so noise hits all clients alike; a cell
is the median of the rounds with its min–max. A child still running ``--hang`` seconds
after its last emit is killed and reported as "≥ N s (hung)".

- exit: seconds from the last emit to process exit, per endpoint (fast, slow: answers
  after 2 s, refused, black hole: accepts and never answers, 500), with an implicit
  exit and with the client's documented shutdown call;
- burst: N events as fast as one thread can, then the documented flush: events the
  collector received by the end of the flush per second, and events never received;
- caller: µs per emit on the calling thread, delivering and with the kill switch;
- import: ms of ``python -c "import ..."`` over ``python -c pass`` (median of 5 pairs
  per process, so the cell is a median of medians).

Writes ``compare.md``, ``compare.json`` and PNG charts into ``--out``
(benchmarks/results by default); charts are skipped with a note without matplotlib.
"""

from __future__ import annotations

import argparse
import contextlib
import importlib
import json
import os
import platform
import random
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime
from importlib import metadata
from pathlib import Path
from types import ModuleType
from typing import Any

HERE = Path(__file__).resolve().parent
REPO = HERE.parent
sys.path[:0] = [str(REPO), str(HERE)]

from peers import ADAPTERS, SMOKE_ADAPTERS  # noqa: E402
from peers.collector import CountingCollector  # noqa: E402

from tests.servers import BlackHole, Reply, refused_port  # noqa: E402

CHILD = HERE / "peers" / "child.py"
FAULTS = ("fast", "slow", "refused", "black hole", "500")
SMOKE_FAULTS = ("fast", "black hole")
MODES = ("implicit exit", "shutdown call")
PROMISE_S = 1.0
SLOW_S = 2.0
STARTUP_ALLOWANCE_S = 30.0  # a child gets this long to reach its last emit
SETTLE_S = 0.5
DROP_ENV_PREFIXES = ("VISIVO_", "DO_NOT_TRACK", "OTEL_", "POSTHOG_", "SEGMENT_")
PROXY_VARS = ("http_proxy", "https_proxy", "all_proxy", "no_proxy")


@dataclass
class Trial:
    """One child process's result."""

    value: float | None  # seconds, µs or events/s; None when the child failed
    hung: bool = False
    error: str = ""
    extra: dict[str, float] = field(default_factory=dict)


@dataclass
class Config:
    runs: int
    hang_s: float
    burst: int
    caller_n: int
    adapters: tuple[str, ...]
    faults: tuple[str, ...]
    out: Path
    seed: int
    smoke: bool
    import_pairs: int  # (pass, import) pairs per import trial; the trial is their median
    work_s: float  # the "command" before the last emit of an exit trial


# --- child processes ---------------------------------------------------------------


def child_env(adapter: ModuleType, url: str, *, disabled: bool, home: str) -> dict[str, str]:
    """The parent's environment without telemetry, proxy or OTel settings, a fresh HOME,
    and the adapter's own variables."""
    env = {
        k: v
        for k, v in os.environ.items()
        if not k.startswith(DROP_ENV_PREFIXES) and k.lower() not in PROXY_VARS
    }
    env.pop("USERPROFILE", None)
    env.update(HOME=home, XDG_CONFIG_HOME=str(Path(home) / ".config"), PYTHONPATH=str(REPO))
    env.update(adapter.environment(url, disabled))
    return env


def run_child(
    adapter: str, scenario: str, url: str, bound_s: float, *args: str, disabled: bool = False
) -> tuple[Trial, float, float | None, str]:
    """Run one child; return (trial skeleton, exit wall time, stamp or None, stdout)."""
    module = importlib.import_module(f"peers.{adapter}")
    with tempfile.TemporaryDirectory(prefix="compare-") as home:
        stamp = Path(home) / "stamp"
        argv = [sys.executable, str(CHILD), adapter, scenario, url, "--stamp", str(stamp), *args]
        if disabled:
            argv.append("--disabled")
        env = child_env(module, url, disabled=disabled, home=home)
        out_path, err_path = Path(home) / "out", Path(home) / "err"
        with out_path.open("wb") as out, err_path.open("wb") as err:
            proc = subprocess.Popen(argv, stdout=out, stderr=err, env=env, cwd=home)
            hung, stamped = _wait(proc, stamp, bound_s)
        exited = time.time()
        trial = Trial(None, hung=hung)
        if not hung and proc.returncode != 0:
            trial.error = f"exit {proc.returncode}: {err_path.read_text()[-300:]}"
        return trial, exited, stamped, out_path.read_text()


def _read_stamp(stamp: Path) -> float | None:
    try:
        return float(stamp.read_text())
    except (OSError, ValueError):
        return None


def _wait(proc: subprocess.Popen[bytes], stamp: Path, bound_s: float) -> tuple[bool, float | None]:
    """Wait for ``proc``; kill it ``bound_s`` after its stamp (or its start, plus the
    start-up allowance, when it never stamps). Return (hung, stamp)."""
    started = time.time()
    stamped: float | None = None
    limit_s = bound_s + STARTUP_ALLOWANCE_S + 5
    for _ in range(int(limit_s / 0.02) + 100):  # bounded; each turn waits up to 20 ms
        with contextlib.suppress(subprocess.TimeoutExpired):
            proc.wait(timeout=0.02)
            return False, stamped or _read_stamp(stamp)
        stamped = stamped or _read_stamp(stamp)
        now = time.time()
        limit = stamped + bound_s if stamped else started + STARTUP_ALLOWANCE_S + bound_s
        if now > limit:
            break
    proc.kill()
    proc.wait(10)
    return True, stamped or _read_stamp(stamp)


@contextlib.contextmanager
def endpoint(fault: str) -> Iterator[tuple[str, CountingCollector | None]]:
    """A loopback URL (with a trailing slash) that behaves as ``fault``."""
    if fault == "refused":
        yield f"http://127.0.0.1:{refused_port()}/", None
    elif fault == "black hole":
        with BlackHole() as hole:
            yield hole.url, None
    else:
        with CountingCollector() as collector:
            if fault == "slow":
                collector.default = Reply(200, collector.default.headers, SLOW_S, b'{"status": 1}')
            elif fault == "500":
                collector.default = Reply(500, {"Content-Type": "application/json"}, 0, b"{}")
            yield collector.url, collector


# --- measurements ------------------------------------------------------------------


def exit_trial(cfg: Config, adapter: str, fault: str, mode: str) -> Trial:
    args = ["--work", str(cfg.work_s)] + (["--shutdown"] if mode == "shutdown call" else [])
    with endpoint(fault) as (url, _):
        trial, exited, stamped, _ = run_child(adapter, "exit", url, cfg.hang_s, *args)
    if trial.error:
        return trial
    if stamped is None:
        return Trial(None, trial.hung, "no stamp: the child never reached its last emit")
    trial.value = cfg.hang_s if trial.hung else exited - stamped
    return trial


def burst_trial(cfg: Config, adapter: str) -> Trial:
    bound_s = max(cfg.hang_s, 120.0)
    with endpoint("fast") as (url, collector):
        assert collector is not None
        trial, _, _, out = run_child(adapter, "burst", url, bound_s, "--n", str(cfg.burst))
        time.sleep(SETTLE_S)
        received = collector.received()
        if collector.count_errors:
            trial.error = "; ".join(collector.count_errors[:2])
        if trial.error or trial.hung:
            trial.extra = {"received": received, "lost": cfg.burst - received}
            return trial
        result = json.loads(out.strip().splitlines()[-1])
        by_flush = collector.received(by=result["flushed"])
    trial.value = by_flush / result["total_s"]
    trial.extra = {
        "received": received,
        "received_by_flush": by_flush,
        "lost": cfg.burst - received,
        "emit_s": result["emit_s"],
        "total_s": result["total_s"],
    }
    return trial


def caller_trial(cfg: Config, adapter: str, disabled: bool) -> Trial:
    with endpoint("fast") as (url, _):
        bound_s = max(cfg.hang_s, 60.0)
        n = str(cfg.caller_n)
        trial, _, _, out = run_child(
            adapter, "caller", url, bound_s, "--n", n, "--work", "0", disabled=disabled
        )
    if not trial.error and not trial.hung:
        trial.value = json.loads(out.strip().splitlines()[-1])["us_per_emit"]
    return trial


def _python_c(code: str, env: dict[str, str]) -> float:
    started = time.perf_counter()
    subprocess.run([sys.executable, "-c", code], env=env, check=True, timeout=60)
    return time.perf_counter() - started


def import_trial(cfg: Config, adapter: str) -> Trial:
    module = importlib.import_module(f"peers.{adapter}")
    with tempfile.TemporaryDirectory(prefix="compare-") as home:
        env = child_env(module, "http://127.0.0.1:9/", disabled=False, home=home)
        differences = []
        try:
            for _ in range(cfg.import_pairs):
                base = _python_c("pass", env)
                differences.append(_python_c(module.IMPORT, env) - base)
        except subprocess.CalledProcessError as error:
            return Trial(None, error=str(error))
    return Trial(statistics.median(differences) * 1000)


# --- the schedule ------------------------------------------------------------------


def schedule(cfg: Config) -> list[tuple[str, tuple[Any, ...]]]:
    """Every (measurement, arguments) of one round."""
    tasks: list[tuple[str, tuple[Any, ...]]] = []
    for adapter in cfg.adapters:
        tasks += [("exit", (adapter, f, m)) for f in cfg.faults for m in MODES]
        tasks.append(("burst", (adapter,)))
        tasks.append(("caller", (adapter, False)))
        if importlib.import_module(f"peers.{adapter}").KILL_SWITCH != "n/a":
            tasks.append(("caller", (adapter, True)))
        tasks.append(("import", (adapter,)))
    return tasks


MEASURE = {"exit": exit_trial, "burst": burst_trial, "caller": caller_trial, "import": import_trial}


def run_all(cfg: Config, load: list[float]) -> dict[str, list[Trial]]:
    """Run every round, each in a fresh shuffled order; results keyed by task. Appends
    the 1-minute load average before the run and after every round to ``load``."""
    rng = random.Random(cfg.seed)
    results: dict[str, list[Trial]] = {}
    load.append(os.getloadavg()[0])
    tasks = schedule(cfg)
    for round_no in range(cfg.runs):
        order = tasks[:]
        rng.shuffle(order)
        started = time.monotonic()
        for kind, args in order:
            trial = MEASURE[kind](cfg, *args)  # type: ignore[operator]
            results.setdefault(key(kind, *args), []).append(trial)
            if trial.error:
                print(f"  {key(kind, *args)}: {trial.error}", file=sys.stderr)
        took = time.monotonic() - started
        load.append(os.getloadavg()[0])
        print(f"round {round_no + 1}/{cfg.runs}: {len(order)} processes, {took:.0f} s", flush=True)
    return results


def key(kind: str, *args: Any) -> str:
    return "|".join([kind, *map(str, args)])


# --- summaries ---------------------------------------------------------------------


@dataclass
class Cell:
    """Median and min–max over the rounds; hung runs count as the bound (a lower bound)."""

    median: float | None
    low: float | None
    high: float | None
    hung: int
    runs: int
    errors: list[str]
    extra: dict[str, float]


def summarize(trials: list[Trial]) -> Cell:
    values = [t.value for t in trials if t.value is not None]
    extras: dict[str, float] = {}
    for name in {n for t in trials for n in t.extra}:
        found = [t.extra[name] for t in trials if name in t.extra]
        extras[name] = statistics.median(found)
        extras[name + "_min"], extras[name + "_max"] = min(found), max(found)
    return Cell(
        statistics.median(values) if values else None,
        min(values) if values else None,
        max(values) if values else None,
        sum(t.hung for t in trials),
        len(trials),
        [t.error for t in trials if t.error],
        extras,
    )


def fmt_range(cell: Cell, digits: int, unit: str = "") -> str:
    if cell.median is None or cell.low is None or cell.high is None:
        return "error" if cell.errors else "n/a"
    text = f"{cell.median:.{digits}f}{unit} ({cell.low:.{digits}f}–{cell.high:.{digits}f})"
    return text + (f", {len(cell.errors)} failed" if cell.errors else "")


def fmt_exit(cell: Cell, bound_s: float) -> str:
    if cell.median is not None and cell.hung and cell.median >= bound_s:
        return f"**≥ {bound_s:.0f} s (hung {cell.hung}/{cell.runs})**"
    text = fmt_range(cell, 2)
    return text + (f", hung {cell.hung}/{cell.runs}" if cell.hung else "")


def machine() -> dict[str, str]:
    cpu = "unknown"
    with contextlib.suppress(OSError):
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    return {
        "date": datetime.now(UTC).strftime("%Y-%m-%d %H:%M UTC"),
        "cpu": cpu,
        "cores": str(os.cpu_count()),
        "os": platform.platform(),
        "python": platform.python_version(),
    }


def versions(adapters: tuple[str, ...]) -> dict[str, str]:
    names: list[str] = []
    for adapter in adapters:
        names += [n for n in importlib.import_module(f"peers.{adapter}").PACKAGES if n not in names]
    names.append("matplotlib")
    found = {}
    for name in names:
        try:
            found[name] = metadata.version(name)
        except metadata.PackageNotFoundError:
            found[name] = "not installed"
    return found


def label(adapter: str) -> str:
    return str(importlib.import_module(f"peers.{adapter}").NAME)


# --- the report --------------------------------------------------------------------


def markdown(cfg: Config, cells: dict[str, Cell], info: dict[str, Any]) -> str:
    m = info["machine"]
    lines = [
        "# Telemetry clients side by side",
        "",
        f"Generated by `python benchmarks/compare.py{' --smoke' if cfg.smoke else ''}` on "
        f"{m['date']}. Machine: {m['cpu']}, {m['cores']} cores, {m['os']}, Python "
        f"{m['python']}; 1-minute load average {m['load']} during the run (other jobs "
        f"shared the machine when it is above ~1). Each cell: median of {cfg.runs} fresh "
        f"process(es) (min–max); "
        f"clients interleaved in a shuffled order each round; a process still running "
        f"{cfg.hang_s:.0f} s after its last emit is killed and shown as hung.",
        "",
        "| package | version |",
        "|---|---|",
        *(f"| {name} | {version} |" for name, version in info["versions"].items()),
        "",
        "## Exit: seconds from the last emit to process exit",
        "",
        "Endpoint behaviours: fast (200 at once), slow (200 after 2 s), refused (nothing "
        'listens), black hole (accepts, never answers), 500. "implicit exit": the '
        'program just ends; "shutdown call": it calls the client\'s documented shutdown '
        "first.",
        "",
        "| client | exit | " + " | ".join(cfg.faults) + " |",
        "|---|---|" + "---|" * len(cfg.faults),
    ]
    for adapter in cfg.adapters:
        for mode in MODES:
            row = [fmt_exit(cells[key("exit", adapter, f, mode)], cfg.hang_s) for f in cfg.faults]
            lines.append(f"| {label(adapter)} | {mode} | " + " | ".join(row) + " |")
    lines += [
        "",
        f"## Burst: {cfg.burst:,} events, then the documented flush",
        "",
        "| client | delivered events/s (by the end of the flush) | received | lost "
        "| µs per emit in the burst |",
        "|---|---|---|---|---|",
    ]
    for adapter in cfg.adapters:
        cell = cells[key("burst", adapter)]
        x = cell.extra
        received = f"{x['received']:,.0f}" if "received" in x else "n/a"
        lost = (
            f"{x['lost']:,.0f} ({x['lost'] / cfg.burst:.1%}; {x['lost_min'] / cfg.burst:.1%}–"
            f"{x['lost_max'] / cfg.burst:.1%})"
            if "lost" in x
            else "n/a"
        )
        emit_us = f"{x['emit_s'] / cfg.burst * 1e6:.1f}" if "emit_s" in x else "n/a"
        rate = fmt_range(cell, 0) + (f", hung {cell.hung}/{cell.runs}" if cell.hung else "")
        lines.append(f"| {label(adapter)} | {rate} | {received} | {lost} | {emit_us} |")
    lines += [
        "",
        f"## Caller cost: µs per emit on the calling thread ({cfg.caller_n:,} emits)",
        "",
        "| client | delivering | kill switch | switched off |",
        "|---|---|---|---|",
    ]
    for adapter in cfg.adapters:
        module = importlib.import_module(f"peers.{adapter}")
        on = fmt_range(cells[key("caller", adapter, False)], 2)
        off_key = key("caller", adapter, True)
        off = fmt_range(cells[off_key], 2) if off_key in cells else "n/a"
        lines.append(f"| {label(adapter)} | {on} | `{module.KILL_SWITCH}` | {off} |")
    lines += [
        "",
        "## Import cost: ms over `python -c pass`",
        "",
        "| client | statement | ms |",
        "|---|---|---|",
    ]
    for adapter in cfg.adapters:
        module = importlib.import_module(f"peers.{adapter}")
        cell = cells[key("import", adapter)]
        lines.append(f"| {label(adapter)} | `{module.IMPORT}` | {fmt_range(cell, 0)} |")
    lines += ["", *info["notes"]]
    return "\n".join(lines).rstrip() + "\n"


# --- charts ------------------------------------------------------------------------

COLORS = {
    "ours": "#1b9e77",
    "floor": "#999999",
    "posthog_client": "#d95f02",
    "segment_client": "#7570b3",
    "otel_client": "#e7298a",
}


def charts(cfg: Config, cells: dict[str, Cell]) -> list[str]:
    """Write the PNGs; return their file names (none without matplotlib)."""
    try:
        import matplotlib
    except ImportError:
        return []
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    plt.rcParams.update({"font.size": 9, "savefig.dpi": 100})
    written = [
        _exit_chart(plt, cfg, cells),
        _burst_chart(plt, cfg, cells),
        _caller_chart(plt, cfg, cells),
    ]
    plt.close("all")
    return written


def _exit_chart(plt: Any, cfg: Config, cells: dict[str, Cell]) -> str:
    fig, axes = plt.subplots(1, 2, figsize=(12, 5), sharey=True)
    width = 0.8 / len(cfg.adapters)
    for ax, mode in zip(axes, MODES, strict=True):
        for i, adapter in enumerate(cfg.adapters):
            for j, fault in enumerate(cfg.faults):
                cell = cells[key("exit", adapter, fault, mode)]
                if cell.median is None:
                    continue
                x = j - 0.4 + width * (i + 0.5)
                hung = bool(cell.hung) and cell.median >= cfg.hang_s
                low, high = cell.low or cell.median, cell.high or cell.median
                ax.bar(
                    x,
                    cell.median,
                    width,
                    color=COLORS[adapter],
                    hatch="///" if hung else None,
                    edgecolor="black" if hung else COLORS[adapter],
                    yerr=[[cell.median - low], [high - cell.median]],
                    error_kw={"elinewidth": 0.8, "capsize": 2},
                    label=label(adapter) if j == 0 else None,
                )
                if hung:
                    ax.text(
                        x,
                        cell.median / 4,
                        "hung",
                        rotation=90,
                        ha="center",
                        va="center",
                        fontsize=7,
                        bbox={"facecolor": "white", "pad": 1, "linewidth": 0},
                    )
        ax.axhline(
            PROMISE_S, color="red", linestyle="--", linewidth=1.2, label="1 s: our exit promise"
        )
        ax.set_yscale("log")
        ax.set_ylim(0.01, cfg.hang_s * 2.5)
        ax.set_xticks(range(len(cfg.faults)), cfg.faults)
        ax.set_title(f"{mode}")
        ax.set_xlabel("endpoint behaviour")
        ax.grid(axis="y", which="major", alpha=0.3)
    axes[0].set_ylabel("seconds from last emit to exit (log)")
    handles, labels = axes[0].get_legend_handles_labels()
    fig.legend(handles, labels, loc="lower center", ncol=len(labels), fontsize=8, frameon=False)
    fig.suptitle(
        f"Exit delay per endpoint fault (median of {cfg.runs}, min–max bars; "
        f"hatched = killed at {cfg.hang_s:.0f} s)"
    )
    fig.tight_layout(rect=(0, 0.05, 1, 1))
    name = "compare_exit.png"
    fig.savefig(cfg.out / name)
    return name


def _burst_chart(plt: Any, cfg: Config, cells: dict[str, Cell]) -> str:
    fig, ax = plt.subplots(figsize=(9, 0.6 * len(cfg.adapters) + 1.4))
    names = [label(a) for a in cfg.adapters]
    for i, adapter in enumerate(cfg.adapters):
        cell = cells[key("burst", adapter)]
        received = cell.extra.get("received", 0.0)
        lost = cell.extra.get("lost", float(cfg.burst))
        ax.barh(i, received, color=COLORS[adapter], label="delivered" if i == 0 else None)
        ax.barh(
            i,
            lost,
            left=received,
            color="#f2b8b8",
            hatch="xx",
            edgecolor="#c44",
            label="lost" if i == 0 else None,
        )
        rate = f"{cell.median:,.0f}/s" if cell.median is not None else "failed"
        ax.text(
            cfg.burst * 1.01, i, f"lost {lost / cfg.burst:.0%}, {rate}", va="center", fontsize=8
        )
    ax.set_yticks(range(len(names)), names)
    ax.invert_yaxis()
    ax.set_xlim(0, cfg.burst * 1.32)
    ax.set_xlabel(f"events of a {cfg.burst:,}-event burst (median of {cfg.runs})")
    ax.set_title("Burst: delivered and lost events (text: share lost, delivered events/s)")
    fig.legend(loc="lower center", ncol=2, fontsize=8, frameon=False)
    fig.tight_layout(rect=(0, 0.06, 1, 1))
    name = "compare_burst.png"
    fig.savefig(cfg.out / name)
    return name


def _caller_chart(plt: Any, cfg: Config, cells: dict[str, Cell]) -> str:
    fig, ax = plt.subplots(figsize=(9, 0.7 * len(cfg.adapters) + 1.4))
    for i, adapter in enumerate(cfg.adapters):
        for offset, disabled, shade in ((-0.2, False, 1.0), (0.2, True, 0.45)):
            cell = cells.get(key("caller", adapter, disabled))
            if cell is None or cell.median is None:
                continue
            low, high = cell.low or cell.median, cell.high or cell.median
            ax.barh(
                i + offset,
                cell.median,
                0.38,
                color=COLORS[adapter],
                alpha=shade,
                xerr=[[cell.median - low], [high - cell.median]],
                error_kw={"elinewidth": 0.8, "capsize": 2},
            )
            tag = "kill switch" if disabled else "delivering"
            ax.text(
                high * 1.1, i + offset, f"{cell.median:.1f} µs ({tag})", va="center", fontsize=7.5
            )
    ax.set_xscale("log")
    ax.set_yticks(range(len(cfg.adapters)), [label(a) for a in cfg.adapters])
    ax.invert_yaxis()
    left, right = ax.get_xlim()
    ax.set_xlim(left, right * 8)
    ax.set_xlabel("µs per emit on the calling thread (log; median, min–max bars)")
    ax.set_title("Caller cost: delivering (dark) and with the kill switch (light)")
    fig.tight_layout()
    name = "compare_caller.png"
    fig.savefig(cfg.out / name)
    return name


# --- main --------------------------------------------------------------------------


def parse(argv: list[str] | None = None) -> Config:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--smoke",
        action="store_true",
        help="ours and the floor only, few events, one round (for the tests)",
    )
    parser.add_argument("--out", type=Path, default=HERE / "results", help="output directory")
    parser.add_argument("--runs", type=int, help="rounds (fresh processes per cell); default 3")
    parser.add_argument(
        "--hang",
        type=float,
        default=20.0,
        help="seconds after the last emit before a process counts as hung",
    )
    parser.add_argument("--burst", type=int, help="events in the burst; default 50,000")
    parser.add_argument("--caller-n", type=int, help="emits timed for caller cost; default 2,000")
    parser.add_argument("--only", nargs="+", choices=ADAPTERS, help="clients to run")
    parser.add_argument("--seed", type=int, default=13, help="seed of the shuffled order")
    args = parser.parse_args(argv)
    smoke = bool(args.smoke)
    return Config(
        runs=args.runs or (1 if smoke else 3),
        hang_s=args.hang,
        burst=args.burst or (300 if smoke else 50_000),
        caller_n=args.caller_n or (300 if smoke else 2_000),
        adapters=tuple(args.only or (SMOKE_ADAPTERS if smoke else ADAPTERS)),
        faults=SMOKE_FAULTS if smoke else FAULTS,
        out=args.out,
        seed=args.seed,
        smoke=smoke,
        import_pairs=1 if smoke else 5,
        work_s=0.1 if smoke else 0.3,
    )


def main(argv: list[str] | None = None) -> None:
    cfg = parse(argv)
    cfg.out.mkdir(parents=True, exist_ok=True)
    started = time.monotonic()
    load: list[float] = []
    results = run_all(cfg, load)
    cells = {name: summarize(trials) for name, trials in results.items()}
    written = charts(cfg, cells)
    notes = [f"![{n}]({n})" for n in written] or [
        "_Charts skipped: matplotlib is not installed (`pip install -e '.[bench]'`)._"
    ]
    errors = [f"- `{name}`: {e}" for name, cell in cells.items() for e in cell.errors[:1]]
    if errors:
        notes += ["", "Failed runs (first error of each cell):", "", *errors]
    notes += ["", f"Wall time of this run: {time.monotonic() - started:.0f} s."]
    info = {"machine": machine(), "versions": versions(cfg.adapters), "notes": notes}
    info["machine"]["load"] = "–".join(f"{x:.1f}" for x in (min(load), max(load)))
    (cfg.out / "compare.md").write_text(markdown(cfg, cells, info), encoding="utf-8")
    raw = {
        "config": {k: str(v) if isinstance(v, Path) else v for k, v in asdict(cfg).items()},
        "info": info,
        "trials": {name: [asdict(t) for t in trials] for name, trials in results.items()},
    }
    (cfg.out / "compare.json").write_text(json.dumps(raw, indent=1), encoding="utf-8")
    print(f"wrote {cfg.out / 'compare.md'} and {len(written)} chart(s)")


if __name__ == "__main__":
    main()
