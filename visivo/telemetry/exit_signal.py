"""SIGTERM (``docker stop``, systemd): deliver the last batch, then die as SIGTERM would.

Stateless helpers; the runtime keeps whether its handler is installed. Python runs a
signal handler on the main thread between two bytecodes, possibly while that thread
holds one of telemetry's own locks, so delivery runs on a helper thread for a bounded
time. ``signal`` is imported only here, when telemetry is enabled.
"""

from __future__ import annotations

import os
import sys
import threading
from collections.abc import Callable
from typing import Any

__all__ = ["deliver_then_die", "install", "uninstall"]

Handler = Callable[[int, Any], None]


def _on_main_thread() -> bool:
    return threading.current_thread() is threading.main_thread()


def install(handler: Handler) -> bool:
    """Install ``handler`` for SIGTERM where the host left the default; whether it did.

    Only from the main thread (where Python allows it), not on Windows (no SIGTERM from
    outside), and only over the default action: a host's own handler is never replaced,
    and a host that installs one later replaces ours.
    """
    if sys.platform == "win32" or not _on_main_thread():
        return False
    import signal

    if signal.getsignal(signal.SIGTERM) is not signal.SIG_DFL:
        return False
    signal.signal(signal.SIGTERM, handler)
    return True


def uninstall(handler: Handler) -> bool:
    """Put the default action back if ``handler`` is still SIGTERM's; whether it could look."""
    if not _on_main_thread():
        return False
    import signal

    if signal.getsignal(signal.SIGTERM) is handler:
        signal.signal(signal.SIGTERM, signal.SIG_DFL)
    return True


def deliver_then_die(
    deliver: Callable[[], object], wait_s: float, count_error: Callable[[str], None]
) -> None:
    """Run ``deliver`` on a helper thread for at most ``wait_s``, then re-raise SIGTERM."""
    import signal

    try:
        worker = threading.Thread(target=deliver, daemon=True)
        worker.start()
        worker.join(wait_s)
    except Exception:  # noqa: BLE001 - the process is going down either way
        count_error("sigterm")
    finally:
        signal.signal(signal.SIGTERM, signal.SIG_DFL)
        os.kill(os.getpid(), signal.SIGTERM)
