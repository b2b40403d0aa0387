"""The hand-rolled floor of benchmarks/bench_delivery.py (deque -> JSON -> gzip -> urllib3,
one daemon thread, a 0.9 s exit deadline), imported from there, not copied.
"""

from __future__ import annotations

import sys
import time
from pathlib import Path
from typing import Any

NAME = "floor (hand-rolled)"
PACKAGES = ("urllib3",)
IMPORT = "import atexit, gzip, json, threading, uuid, urllib3"
KILL_SWITCH = "n/a"

_ns: dict[str, Any] = {}


def environment(url: str, disabled: bool) -> dict[str, str]:
    return {}


def start(url: str, disabled: bool) -> None:
    sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
    from bench_delivery import FLOOR

    _ns["URL"] = url
    exec(FLOOR, _ns)


def emit() -> None:
    _ns["emit"]()


def command(work_s: float) -> None:
    time.sleep(work_s)
    emit()


def flush() -> None:
    _ns["flush"](60.0)


def shutdown() -> None:
    _ns["floor"].shutdown(0.9)
