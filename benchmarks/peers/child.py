"""One measurement in a fresh process: ``python child.py ADAPTER SCENARIO URL [options]``.

Scenarios (the parent, benchmarks/compare.py, times what happens outside):

- ``exit``: start, work ``--work`` seconds and emit one event (as a command would),
  write a wall-clock stamp to ``--stamp``, then with ``--shutdown`` call the client's
  documented shutdown; then return, and the interpreter exits (atexit hooks run).
- ``burst``: emit ``--n`` events as fast as one thread can, call the documented flush,
  and print the emit-phase and total seconds, and the flush's end stamp, as JSON.
- ``caller``: emit once, then time ``--n`` emits on this thread; print µs per emit.
"""

from __future__ import annotations

import argparse
import importlib
import json
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("adapter")
    parser.add_argument("scenario", choices=("exit", "burst", "caller"))
    parser.add_argument("url")
    parser.add_argument("--n", type=int, default=1)
    parser.add_argument("--work", type=float, default=0.3)
    parser.add_argument("--stamp", default="")
    parser.add_argument("--shutdown", action="store_true")
    parser.add_argument("--disabled", action="store_true")
    args = parser.parse_args()

    adapter = importlib.import_module(f"peers.{args.adapter}")
    adapter.start(args.url, args.disabled)
    if args.scenario == "exit":
        if hasattr(adapter, "command"):
            adapter.command(args.work)
        else:
            time.sleep(args.work)
            adapter.emit()
        Path(args.stamp).write_text(repr(time.time()))
        if args.shutdown:
            adapter.shutdown()
    elif args.scenario == "burst":
        emit = adapter.emit
        started = time.perf_counter()
        for _ in range(args.n):
            emit()
        emitted = time.perf_counter()
        adapter.flush()
        done = time.perf_counter()
        result = {"emit_s": emitted - started, "total_s": done - started, "flushed": time.time()}
        print(json.dumps(result), flush=True)
    else:
        emit = adapter.emit
        emit()
        started = time.perf_counter()
        for _ in range(args.n):
            emit()
        elapsed = time.perf_counter() - started
        print(json.dumps({"us_per_emit": elapsed / args.n * 1e6}), flush=True)


if __name__ == "__main__":
    main()
