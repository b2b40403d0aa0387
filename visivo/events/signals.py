"""Every telemetry-relevant signal Visivo sends, and the keywords each one carries.

Receivers are connected by :mod:`visivo.telemetry` only while telemetry is enabled.
Host code sends with ``signal.send(sender, **payload)``; check ``signal.receivers``
first when building the payload costs anything. Keywords not listed here are stripped
before anything leaves the process.

Each signal's keywords are declared once, as data (:data:`KEYWORDS`): the signal's doc
and :class:`~visivo.events.tracking.CommandTracker`'s settable fields come from them.
The telemetry schema declares, for every field it sends, which of these keywords it
comes from, and its tests hold the two equal.
"""

from __future__ import annotations

from collections.abc import Mapping
from types import MappingProxyType
from typing import Final

from blinker import Namespace

__all__ = [
    "COMMAND_FINISHED_KEYWORDS",
    "KEYWORDS",
    "REQUEST_FINISHED_KEYWORDS",
    "command_finished",
    "command_started",
    "request_finished",
]

_signals = Namespace()

# Keyword → (its type, what it means), in the order the docs list them.
COMMAND_FINISHED_KEYWORDS: Final[Mapping[str, tuple[str, str]]] = MappingProxyType(
    {
        "command": ("str", 'its path below the root group (``"run"``, ``"db migrate"``)'),
        "duration_ms": ("float", "wall-clock duration, from a monotonic clock"),
        "success": ("bool", ""),
        "error": ("BaseException | None", "only its class name is ever sent"),
        "jobs": ("int | None", "jobs run (``run``)"),
        "object_counts": ("Mapping[str, int] | None", "objects by type (``compile``)"),
    }
)
REQUEST_FINISHED_KEYWORDS: Final[Mapping[str, tuple[str, str]]] = MappingProxyType(
    {
        "method": ("str", ""),
        "status_code": ("int", "the status the client received"),
        "duration_ms": ("float", ""),
        "route": ("str | None", "the router's template, e.g. ``/api/project/<int:project_id>``"),
        "path": ("str", "the raw path, templated and used only when ``route`` is None"),
    }
)
# Signal name → its keywords, for every signal whose payload telemetry reads.
KEYWORDS: Final[Mapping[str, Mapping[str, tuple[str, str]]]] = MappingProxyType(
    {
        "command_finished": COMMAND_FINISHED_KEYWORDS,
        "request_finished": REQUEST_FINISHED_KEYWORDS,
    }
)


def _doc(summary: str, keywords: Mapping[str, tuple[str, str]]) -> str:
    items = [
        f"- ``{name}: {kind}``" + (f": {meaning}" if meaning else "")
        for name, (kind, meaning) in keywords.items()
    ]
    return f"{summary} Keywords:\n\n" + ";\n".join(items) + ".\n"


command_started = _signals.signal(
    "command_started",
    doc="""A CLI command began. Keywords: ``command: str`` (its path below the root group).

    Not sent anywhere on its own; it lets receivers time or annotate a command.
    """,
)

command_finished = _signals.signal(
    "command_finished", doc=_doc("A CLI command ended.", COMMAND_FINISHED_KEYWORDS)
)

request_finished = _signals.signal(
    "request_finished", doc=_doc("The server answered an HTTP request.", REQUEST_FINISHED_KEYWORDS)
)
