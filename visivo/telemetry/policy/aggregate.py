"""Merge single requests into one ``RequestFinished`` per endpoint, method and status.

A server answers many requests a second; sending each as an event would flood the queue
and the collector. The runtime folds every scrubbed request of one delivery window into
a :class:`RequestWindow` on the telemetry thread and, when the window closes, sends one
event per ``(endpoint, method, status_code)`` carrying the number of requests and their
median and longest duration. Pure: no clock, no I/O, no threads.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Final

import attrs

from visivo.telemetry.schema import RequestFinished

__all__ = ["MAX_WINDOW_ENTRIES", "Merged", "RequestWindow", "lower_median"]

# A window holds at most this many distinct keys and distinct durations per key, in
# total (about 0.5 MB at worst). A request that does not fit closes the window early.
MAX_WINDOW_ENTRIES: Final = 4096

_Key = tuple[str, str, int | None]


def lower_median(histogram: dict[int, int]) -> int | None:
    """The lower median of values given as ``{value: how many times}``; None when empty.

    The lower median is always one of the values: ``[1, 2]`` → 1, ``[1, 2, 9]`` → 2.
    """
    total = sum(histogram.values())
    if not total:
        return None
    rank = (total + 1) // 2
    seen = 0
    for value in sorted(histogram):
        seen += histogram[value]
        if seen >= rank:
            return value
    raise AssertionError("unreachable: the ranks add up to total")  # pragma: no cover


@attrs.frozen
class Merged:
    """One event of a closed window: the merged properties, when, and stripped keywords.

    ``timestamp`` is the last merged request's; ``stripped`` names every keyword stripped
    from any of them.
    """

    properties: RequestFinished
    timestamp: float
    stripped: tuple[str, ...]


class _Group:
    """The requests of one key so far."""

    __slots__ = ("count", "durations", "stripped", "timestamp")

    def __init__(self) -> None:
        self.count = 0
        self.durations: dict[int, int] = {}
        self.stripped: set[str] = set()
        self.timestamp = 0.0


class RequestWindow:
    """The requests of one delivery window, grouped by ``(endpoint, method, status_code)``.

    Args:
        max_entries: distinct keys plus distinct durations per key held at most; a
            request that would exceed it is refused (``add`` returns False) so that the
            caller closes the window first. Never below 2, so that an empty window
            always takes a request.
    """

    def __init__(self, max_entries: int = MAX_WINDOW_ENTRIES) -> None:
        if max_entries < 2:
            raise ValueError("max_entries must be at least 2")
        self._max_entries = max_entries
        self._groups: dict[_Key, _Group] = {}
        self._entries = 0
        self.requests = 0
        """Requests merged since the window opened."""

    def add(self, request: RequestFinished, timestamp: float, stripped: Iterable[str] = ()) -> bool:
        """Merge one scrubbed request (``count`` 1, its duration as median and max).

        Returns False, changing nothing, when the window is full: close it, then add again.
        """
        key = (request.endpoint, request.method, request.status_code)
        duration = request.duration_max_ms
        group = self._groups.get(key)
        if group is None or (duration is not None and duration not in group.durations):
            new_entries = (group is None) + (duration is not None)
            if self._entries + new_entries > self._max_entries:
                return False
            if group is None:
                group = self._groups[key] = _Group()
            self._entries += new_entries
        group.count += 1
        if duration is not None:
            group.durations[duration] = group.durations.get(duration, 0) + 1
        if stripped:
            group.stripped.update(stripped)
        group.timestamp = max(group.timestamp, timestamp)
        self.requests += 1
        return True

    def close(self) -> list[Merged]:
        """The merged events, in the order their keys first appeared; empties the window."""
        merged = [
            Merged(
                RequestFinished(
                    endpoint=endpoint,
                    method=method,
                    status_code=status_code,
                    count=group.count,
                    duration_median_ms=lower_median(group.durations),
                    duration_max_ms=max(group.durations) if group.durations else None,
                ),
                group.timestamp,
                tuple(sorted(group.stripped)),
            )
            for (endpoint, method, status_code), group in self._groups.items()
        ]
        self._groups = {}
        self._entries = 0
        self.requests = 0
        return merged
