"""posthog-python, as its docs show it.

Docs followed: https://posthog.com/docs/libraries/python/7.x.x (Setup: ``Posthog(token,
host=...)``; Capture: ``capture(event, distinct_id=..., properties=...)``; Flush;
Shutdown; the ``disabled`` option). Defaults kept: ``sync_mode=False`` (a background
thread sends), ``timeout=15``, ``max_retries=3``, ``max_queue_size=10000``.
"""

from __future__ import annotations

from typing import Any

from peers import DISTINCT_ID, EVENT, PROPERTIES

NAME = "posthog-python"
PACKAGES = ("posthog", "requests")
IMPORT = "import posthog"
KILL_SWITCH = "Posthog(..., disabled=True)"

_state: dict[str, Any] = {}


def environment(url: str, disabled: bool) -> dict[str, str]:
    return {}


def start(url: str, disabled: bool) -> None:
    from posthog import Posthog

    # ``host`` is the documented option for a self-hosted or regional instance.
    _state["client"] = Posthog("phc_benchmark", host=url.rstrip("/"), disabled=disabled)


def emit() -> None:
    _state["client"].capture(EVENT, distinct_id=DISTINCT_ID, properties=PROPERTIES)


def flush() -> None:
    _state["client"].flush()


def shutdown() -> None:
    _state["client"].shutdown()
