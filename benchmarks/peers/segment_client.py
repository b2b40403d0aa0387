"""Segment analytics-python, as its docs show it (module-level configuration).

Docs followed: https://www.twilio.com/docs/segment/connections/sources/catalog/libraries/server/python
(formerly segment.com/docs/connections/sources/catalog/libraries/server/python):
``analytics.write_key``, ``analytics.host`` for another API host, ``analytics.track(
user_id, event, properties)``, ``analytics.flush()``, ``analytics.shutdown()`` and
``analytics.send = False`` to not send. Defaults kept: ``timeout=15``, ``max_retries=10``,
``max_queue_size=10000``, ``upload_size=100``.
"""

from __future__ import annotations

from peers import DISTINCT_ID, EVENT, PROPERTIES

NAME = "segment analytics-python"
PACKAGES = ("segment-analytics-python", "requests")
IMPORT = "import segment.analytics"
KILL_SWITCH = "analytics.send = False"


def environment(url: str, disabled: bool) -> dict[str, str]:
    return {}


def start(url: str, disabled: bool) -> None:
    from segment import analytics

    analytics.write_key = "benchmark-write-key"
    analytics.host = url.rstrip("/")
    if disabled:
        analytics.send = False


def emit() -> None:
    from segment import analytics

    analytics.track(DISTINCT_ID, EVENT, PROPERTIES)


def flush() -> None:
    from segment import analytics

    analytics.flush()


def shutdown() -> None:
    from segment import analytics

    analytics.shutdown()
