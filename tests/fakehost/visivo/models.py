"""Host code that has nothing to do with telemetry (it must work without it)."""

from __future__ import annotations


def object_counts(names: list[str]) -> dict[str, int]:
    """How many objects of each type a project holds."""
    counts: dict[str, int] = {}
    for name in names:
        counts[name] = counts.get(name, 0) + 1
    return counts
