"""How long reading the telemetry setting of a large project file takes.

Run from the repository root: ``python benchmarks/bench_settings.py``. It writes a
realistic 5,000-line ``project.visivo.yml`` (sources, models with SQL block scalars,
traces, charts, Jinja in quoted strings, a ``defaults:`` block in the middle) to a
temporary folder and times :func:`read_project` (the fast path), the full ruamel parse
it falls back to, the same project sharing trace properties through anchors, aliases and
merge keys, two 850 KiB projects with one tab (in SQL; in an indentation, which the fast
path cannot follow), and the global file. The floor for ``read_project`` of the
5,000-line files is 50 ms.
"""

from __future__ import annotations

import random
import statistics
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # this checkout, not another

FLOOR_MS = 50.0

_WORDS = ("orders", "widgets", "revenue", "customers", "sessions", "refunds", "events")


def _source(rng: random.Random, n: int, ind: str, seq: str) -> list[str]:
    return [
        f"{seq}- name: source_{n}",
        f"{seq}  type: {rng.choice(['postgresql', 'snowflake', 'duckdb', 'mysql'])}",
        f"{seq}  host: db{n}.internal.example.com",
        f"{seq}  database: {rng.choice(_WORDS)}",
        f"{seq}  username: \"{{{{ env_var('DB_USER_{n}') }}}}\"",
        f"{seq}  password: \"{{{{ env_var('DB_PASSWORD') }}}}\"",
        f"{seq}  port: {rng.randint(1000, 9999)}",
    ]


def _model(rng: random.Random, n: int, ind: str, seq: str) -> list[str]:
    table = rng.choice(_WORDS)
    return [
        f"{seq}- name: model_{n}",
        f"{seq}  source: ref(source_{rng.randint(0, 20)})",
        f"{seq}  sql: |",
        f"{seq}  {ind}select date_trunc('week', created_at) as week, sum(amount) as total",
        f"{seq}  {ind}from {table}",
        f"{seq}  {ind}where status = 'complete' and amount > {rng.randint(0, 100)}",
        f"{seq}  {ind}group by 1",
    ]


def _trace(rng: random.Random, n: int, ind: str, seq: str) -> list[str]:
    return [
        f"{seq}- name: trace_{n}",
        f"{seq}  model: ref(model_{rng.randint(0, 50)})",
        f"{seq}  cohort_on: \"'{rng.choice(_WORDS)}'\"",
        f"{seq}  props:",
        f"{seq}  {ind}type: {rng.choice(['scatter', 'bar', 'line'])}",
        f"{seq}  {ind}x: ?{{ date_trunc('week', created_at) }}",
        f"{seq}  {ind}y: ?{{ sum(amount) }}",
        f"{seq}  {ind}marker:",
        f"{seq}  {ind}{ind}color: ?{{ case when sum(amount) > 200 then 'green' else 'blue' end }}",
        f"{seq}  tags: [weekly, {rng.choice(_WORDS)}]",
    ]


def _trace_merged(rng: random.Random, n: int, ind: str, seq: str) -> list[str]:
    return [
        f"{seq}- name: trace_{n}",
        f"{seq}  model: ref(model_{rng.randint(0, 50)})",
        f"{seq}  props:",
        f"{seq}  {ind}<<: *weekly",
        f"{seq}  {ind}y: ?{{ sum(amount) }}",
        f"{seq}  tags: *tags",
    ]


def _chart(rng: random.Random, n: int, ind: str, seq: str) -> list[str]:
    return [
        f"{seq}- name: chart_{n}",
        f"{seq}  traces:",
        f"{seq}  {ind}- ref(trace_{n})",
        f"{seq}  {ind}- ref(trace_{rng.randint(0, 50)})",
        f"{seq}  layout:",
        f"{seq}  {ind}title:",
        f"{seq}  {ind}{ind}text: 'Weekly {rng.choice(_WORDS)} # {n}'",
        "",
    ]


def make_project(
    lines: int,
    *,
    seed: int = 0,
    flag: str = "false",
    indent: int = 2,
    offset: int = 2,
    key: str = "telemetry_enabled",
    aliases: bool = False,
) -> str:
    """A realistic project file of about ``lines`` lines with ``defaults:`` in the middle.

    Args:
        lines: roughly how many lines to write.
        seed: for the random names and numbers.
        flag: the text after ``telemetry_enabled:`` ("" leaves the key out).
        indent: the mapping indentation.
        offset: how far list dashes are indented under their key (0: indentless).
        key: how the flag's key is spelled.
        aliases: share trace properties through an anchor, aliases and a merge key.
    """
    rng = random.Random(seed)
    ind = " " * indent
    seq = " " * offset
    out = ["# Visivo project", "name: analytics", ""]
    if aliases:
        out += [
            "shared:",
            f"{ind}weekly: &weekly",
            f"{ind}{ind}type: bar",
            f"{ind}{ind}x: ?{{ date_trunc('week', created_at) }}",
            f"{ind}tags: &tags [weekly, shared]",
            "",
        ]
    traces = _trace_merged if aliases else _trace
    sections = [("sources", _source), ("models", _model), ("traces", traces), ("charts", _chart)]
    per_section = max(1, lines // 4)
    for index, (section, make) in enumerate(sections):
        if index == 2:
            out += ["defaults:", f"{ind}source_name: source_0", f"{ind}alert_name: slack"]
            if flag:
                out.append(f"{ind}{key}: {flag}  # see docs/telemetry.md")
            out.append("")
        out += [f"# --- {section} ---", f"{section}:"]
        start = len(out)
        n = 0
        while len(out) - start < per_section:
            out += make(rng, n, ind, seq)
            n += 1
    return "\n".join(out) + "\n"


def huge_project(extra: str, flag: str = "false") -> str:
    """About 850 KiB of realistic project, with ``extra`` inserted near the end."""
    text = make_project(33_000, flag=flag)
    cut = text.rindex("\n  - name: chart_")
    return text[:cut] + extra + text[cut:]


def _time_ms(func: Callable[[], object], repeat: int) -> tuple[float, float]:
    samples = []
    for _ in range(repeat):
        start = time.perf_counter()
        func()
        samples.append((time.perf_counter() - start) * 1000)
    return statistics.median(samples), min(samples)


def main() -> int:
    """Print a table of timings; exit 1 when ``read_project`` misses the floor."""
    from visivo.telemetry.policy import settings

    def read(path: Path) -> None:
        reading = settings.read_project(path)
        assert reading.opts_out, reading  # the opt-out is found, or the file fails closed

    from visivo.telemetry.policy.settings.fast import fast_project_value
    from visivo.telemetry.policy.settings.keys import Found
    from visivo.telemetry.policy.settings.nodes import compose
    from visivo.telemetry.policy.settings.reading import project_value

    with tempfile.TemporaryDirectory() as folder:
        files = {
            name: Path(folder) / name / settings.PROJECT_FILE
            for name in ("plain", "aliases", "tab in SQL", "tab in indentation")
        }
        text = make_project(5000)
        texts = {
            "plain": text,
            "aliases": make_project(5000, aliases=True),
            "tab in SQL": huge_project("").replace("as total", "as\ttotal", 1),
            "tab in indentation": huge_project("\n  -\tname: odd"),
        }
        for name, path in files.items():
            path.parent.mkdir()
            path.write_text(texts[name], encoding="utf-8")
        glob = Path(folder) / "config.yml"
        glob.write_text("telemetry_enabled: false\ntelemetry_endpoint: https://t.example\n")
        assert fast_project_value(text) == Found(False), "fast path did not answer"
        assert fast_project_value(texts["aliases"]) == Found(False), "fast path did not answer"
        rows = [
            ("read_project (fast path)", lambda: settings.read_project(files["plain"]), 50),
            ("full parse (fallback)", lambda: project_value(compose(text)), 5),
            ("read_project, aliases + <<", lambda: settings.read_project(files["aliases"]), 50),
            ("read_project, 850 KiB, tab in SQL", lambda: read(files["tab in SQL"]), 10),
            ("read_project, 850 KiB, tab indent", lambda: read(files["tab in indentation"]), 10),
            ("read_global", lambda: settings.read_global(glob), 50),
        ]
        print(f"project file: {text.count(chr(10))} lines, {len(text.encode()) // 1024} KiB")
        print(f"{'what':<36}{'median ms':>12}{'min ms':>10}")
        results = {}
        for name, func, repeat in rows:
            median, best = _time_ms(func, repeat)
            results[name] = median
            print(f"{name:<36}{median:>12.1f}{best:>10.1f}")
    ok = max(results["read_project (fast path)"], results["read_project, aliases + <<"]) <= FLOOR_MS
    print(f"floor: read_project (5,000 lines) <= {FLOOR_MS:.0f} ms: {'ok' if ok else 'MISSED'}")
    return 0 if ok else 1


if __name__ == "__main__":
    raise SystemExit(main())
