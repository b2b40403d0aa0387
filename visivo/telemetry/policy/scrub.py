"""Field stripping: build schema events from raw signal payloads, keeping only what is allowed.

Pure, and derived from the field declarations of :mod:`visivo.telemetry.schema`: the
allow-list of a signal is the keywords its event's fields come from, and each field's
value is what its declared normaliser makes of them. A keyword outside the allow-list is
stripped and only its name is reported. Every field fails alone: a value the normaliser
rejects, or a normaliser that raises, leaves that field out (or at its declared
fallback, ``{invalid}`` for a command) and the rest of the event is sent; a failure is
reported in ``Scrubbed.failed`` for the caller to count. The caller's mapping is never
changed.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping
from typing import Any, Final, Generic, TypeVar

import attrs

from visivo.telemetry.schema import (
    CommandFinished,
    RequestFinished,
    event_keywords,
    field_sources,
)

__all__ = [
    "COMMAND_KEYWORDS",
    "NON_IDENTIFIER",
    "REQUEST_KEYWORDS",
    "Scrubbed",
    "Scrubber",
    "scrub_command",
    "scrub_request",
]

# The allow-lists, derived from the declarations.
COMMAND_KEYWORDS: Final = event_keywords(CommandFinished)
REQUEST_KEYWORDS: Final = event_keywords(RequestFinished)

# Stripped keyword names are code (``send(..., extra=1)``) and are shown by debug sinks;
# a name that is not a Python identifier came from data (``send(**row)``) and is not.
_KEYWORD_NAME: Final = re.compile(r"[A-Za-z_][A-Za-z0-9_]{0,63}")
NON_IDENTIFIER: Final = "{non-identifier}"

_Event = TypeVar("_Event", CommandFinished, RequestFinished)


@attrs.frozen
class Scrubbed:
    """The allowed properties, the names of the stripped keywords, the fields that failed.

    ``failed`` names the fields whose normaliser raised: they were left out (or set to
    their fallback), and the caller counts them.
    """

    properties: CommandFinished | RequestFinished
    stripped: tuple[str, ...]
    failed: tuple[str, ...] = ()


def _keyword_name(key: object) -> str:
    return key if isinstance(key, str) and _KEYWORD_NAME.fullmatch(key) else NON_IDENTIFIER


def _stripped(payload: Mapping[str, Any], allowed: frozenset[str]) -> tuple[str, ...]:
    extra = payload.keys() - allowed
    return tuple(sorted({_keyword_name(key) for key in extra})) if extra else ()


def _carried_by_no_keyword() -> None:
    """The value of a field that no keyword carries: none, so it takes its fallback."""
    return None


class Scrubber(Generic[_Event]):
    """``payload -> Scrubbed`` for one event class, built from its field declarations."""

    __slots__ = ("_fields", "allowed", "event_class")

    def __init__(self, event_class: type[_Event]) -> None:
        self.event_class: type[_Event] = event_class
        self.allowed: frozenset[str] = event_keywords(event_class)
        # A field read from one keyword keeps it as a str: the common case, called directly.
        self._fields: tuple[tuple[str, str | tuple[str, ...], Callable[..., Any], Any], ...]
        self._fields = tuple(
            (
                name,
                source.keywords[0] if len(source.keywords) == 1 else source.keywords,
                source.normalise or _carried_by_no_keyword,
                source.fallback,
            )
            for name, source in field_sources(event_class)
        )

    def __call__(self, payload: Mapping[str, Any]) -> Scrubbed:
        """Build the event from a signal payload."""
        get = payload.get
        values: list[Any] = []
        failed: tuple[str, ...] = ()
        for name, keywords, normalise, fallback in self._fields:
            try:
                if type(keywords) is str:
                    value = normalise(get(keywords))
                else:
                    value = normalise(*[get(keyword) for keyword in keywords])
            except Exception:  # noqa: BLE001 - one field fails alone; the caller counts it
                failed += (name,)
                value = None
            values.append(fallback if value is None else value)
        # attrs takes the fields positionally, in declaration order.
        return Scrubbed(self.event_class(*values), _stripped(payload, self.allowed), failed)


scrub_command: Final = Scrubber(CommandFinished)
scrub_request: Final = Scrubber(RequestFinished)
