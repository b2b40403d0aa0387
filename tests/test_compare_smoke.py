"""benchmarks/compare.py keeps working: its smoke mode runs ours and the floor end to end.

The smoke run drives our client through its public API (``visivo.telemetry.start()``,
``visivo.events``) in fresh processes against a loopback collector, so a change to that
API breaks this test rather than the benchmark. Results go to a temporary directory only.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parent.parent
COMPARE = REPO / "benchmarks" / "compare.py"
SMOKE_EVENTS = 300


def _run_smoke(out: Path) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("VISIVO_", "DO_NOT_TRACK"))}
    env["HOME"] = str(out)
    return subprocess.run(
        [sys.executable, str(COMPARE), "--smoke", "--out", str(out / "results")],
        capture_output=True,
        text=True,
        timeout=90,
        check=False,
        cwd=out,
        env=env,
    )


def _values(trials: dict[str, list[dict[str, Any]]], name: str) -> list[dict[str, Any]]:
    found = trials[name]
    assert found, name
    for trial in found:
        assert not trial["error"], (name, trial["error"])
        assert not trial["hung"], name
        assert trial["value"] is not None, name
    return found


def test_smoke_run_reports_ours_and_the_floor(tmp_path: Path) -> None:
    started = time.monotonic()
    done = _run_smoke(tmp_path)
    took = time.monotonic() - started
    assert done.returncode == 0, done.stderr[-3000:]
    assert took < 30, f"smoke run took {took:.1f} s"

    out = tmp_path / "results"
    report = (out / "compare.md").read_text(encoding="utf-8")
    for client in ("visivo-telemetry (ours)", "floor (hand-rolled)"):
        assert report.count(f"| {client} |") >= 5, client  # 2 exit rows, burst, caller, import
    assert "posthog" not in report  # the smoke run needs no peers
    charts = sorted(p.name for p in out.glob("*.png"))
    assert charts == ["compare_burst.png", "compare_caller.png", "compare_exit.png"] or (
        not charts and "Charts skipped" in report
    )

    trials = json.loads((out / "compare.json").read_text(encoding="utf-8"))["trials"]
    for adapter in ("ours", "floor"):
        for mode in ("implicit exit", "shutdown call"):
            (fast,) = _values(trials, f"exit|{adapter}|fast|{mode}")
            assert 0 <= fast["value"] < 1.0, (adapter, mode, fast)
            (hole,) = _values(trials, f"exit|{adapter}|black hole|{mode}")
            assert 0.5 < hole["value"] < 2.0, (adapter, mode, hole)  # the bounded exit
        (burst,) = _values(trials, f"burst|{adapter}")
        assert burst["extra"]["received"] == SMOKE_EVENTS, (adapter, burst)
        assert burst["value"] > 0
        (caller,) = _values(trials, f"caller|{adapter}|False")
        assert 0 < caller["value"] < 1000, (adapter, caller)
        (imported,) = _values(trials, f"import|{adapter}")
        assert imported["value"] < 5000
    (off,) = _values(trials, "caller|ours|True")
    assert 0 < off["value"] < 1000
