"""Field stripping: build schema events from raw signal payloads, keeping only what is allowed.

Pure functions, one per signal. The allow-list is the schema: a keyword that is not one
of the signal's documented keywords is stripped and only its name is reported; a value
that fails validation drops that field (a required field gets ``{invalid}``). The
caller's mapping is never changed.
"""

from __future__ import annotations

import functools
import math
import re
import sys
from collections.abc import Hashable, Mapping
from typing import Any, Final, cast

import attrs

from visivo.telemetry.policy.routes import (
    UNMATCHED,
    normalize_method,
    template_path,
    template_rule,
)
from visivo.telemetry.schema import (
    COMMAND_PATTERN,
    ERROR_TYPE_PATTERN,
    INVALID,
    MAX_COUNT,
    MAX_DURATION_MS,
    MAX_OBJECT_TYPES,
    OBJECT_TYPE_PATTERN,
    CommandFinished,
    RequestFinished,
)

__all__ = [
    "COMMAND_KEYWORDS",
    "NON_IDENTIFIER",
    "REQUEST_KEYWORDS",
    "Scrubbed",
    "scrub_command",
    "scrub_request",
]

# The keywords of visivo.events.signals.command_finished / request_finished.
COMMAND_KEYWORDS: Final = frozenset(
    {"command", "duration_ms", "success", "error", "jobs", "object_counts"}
)
REQUEST_KEYWORDS: Final = frozenset({"method", "status_code", "duration_ms", "route", "path"})

_command_re: Final = re.compile(COMMAND_PATTERN)
_error_type_re: Final = re.compile(ERROR_TYPE_PATTERN)
_object_type_re: Final = re.compile(OBJECT_TYPE_PATTERN)
_ROUTE_MAX_INPUT: Final = 2048
# Stripped keyword names are code (``send(..., extra=1)``) and are shown by debug sinks;
# a name that is not a Python identifier came from data (``send(**row)``) and is not.
_KEYWORD_NAME: Final = re.compile(r"[A-Za-z_][A-Za-z0-9_]{0,63}")
NON_IDENTIFIER: Final = "{non-identifier}"


@attrs.frozen
class Scrubbed:
    """The allowed properties, and the names of the keywords that were stripped."""

    properties: CommandFinished | RequestFinished
    stripped: tuple[str, ...]


def _keyword_name(key: object) -> str:
    return key if isinstance(key, str) and _KEYWORD_NAME.fullmatch(key) else NON_IDENTIFIER


def _stripped(payload: Mapping[str, Any], allowed: frozenset[str]) -> tuple[str, ...]:
    extra = payload.keys() - allowed
    return tuple(sorted({_keyword_name(key) for key in extra})) if extra else ()


def _count(value: object) -> int | None:
    """A non-negative plausible count, or None. ``True`` is not a count."""
    if type(value) is int and 0 <= value <= MAX_COUNT:
        return value
    return None


def _duration_ms(value: object) -> int | None:
    """Whole milliseconds from a finite, non-negative number, or None."""
    if type(value) not in (int, float):
        return None
    number = float(value)  # type: ignore[arg-type]
    if not math.isfinite(number) or number < 0 or number > MAX_DURATION_MS:
        return None
    return round(number)


def _command_name(value: object) -> str:
    if isinstance(value, str) and len(value) <= 160:
        return _checked_command_name(value)
    return INVALID


@functools.lru_cache(maxsize=1024)
def _checked_command_name(value: str) -> str:
    # A CLI has few commands and repeats them: the check is cached.
    name = value.strip().lower()
    return name if _command_re.fullmatch(name) else INVALID


def _written_in_source(cls: type) -> bool:
    """Whether a class statement made ``cls``: its module holds it under its qualified name,
    or it was defined inside a function (``f.<locals>.Boom``).

    A class made at run time (``type(name, bases, ns)``) fails both, so a name built from
    data (``type(f"{table}Error", ...)``) is never sent. Reads ``vars()`` only, so no
    module or class code runs.
    """
    qualname = getattr(cls, "__qualname__", "")
    if not isinstance(qualname, str) or qualname.rpartition(".")[2] != cls.__name__:
        return False
    if "<locals>" in qualname:
        return True
    found: object = sys.modules.get(cls.__module__)
    for part in qualname.split("."):
        namespace = getattr(found, "__dict__", None)
        if not isinstance(namespace, Mapping):
            return False
        found = namespace.get(part)
    return found is cls


def _error_type(value: object) -> str | None:
    """The class name of an exception (instance or class); never its message.

    The nearest class in its MRO that a class statement made and whose name is a plain
    identifier: a class created at run time is reported as the class it derives from.
    """
    if value is None:
        return None
    if isinstance(value, BaseException):
        cls: type = type(value)
    elif isinstance(value, type) and issubclass(value, BaseException):
        cls = value
    else:
        return None
    return _class_error_type(cast(Hashable, cls))


@functools.lru_cache(maxsize=512)
def _class_error_type(cls: Hashable) -> str | None:
    # Classes are few and the MRO walk reads module dicts: cached per class.
    assert isinstance(cls, type)
    for candidate in cls.__mro__:
        if _written_in_source(candidate) and _error_type_re.fullmatch(candidate.__name__):
            return candidate.__name__
    return None


def _object_counts(value: object) -> dict[str, int] | None:
    if value is None or not isinstance(value, Mapping):
        return None
    counts: dict[str, int] = {}
    for key, count in value.items():
        if len(counts) >= MAX_OBJECT_TYPES:
            break
        if isinstance(key, str) and _object_type_re.fullmatch(key):
            checked = _count(count)
            if checked is not None:
                counts[key] = checked
    return counts or None


def scrub_command(payload: Mapping[str, Any]) -> Scrubbed:
    """Build ``CommandFinished`` from a ``command_finished`` payload."""
    success = payload.get("success")
    error_type = _error_type(payload.get("error"))
    properties = CommandFinished(
        command=_command_name(payload.get("command")),
        duration_ms=_duration_ms(payload.get("duration_ms")),
        success=success if type(success) is bool else None,
        error_type=error_type,
        jobs=_count(payload.get("jobs")),
        object_counts=_object_counts(payload.get("object_counts")),
    )
    return Scrubbed(properties, _stripped(payload, COMMAND_KEYWORDS))


def _status_code(value: object) -> int | None:
    if type(value) is int and 100 <= value <= 599:
        return value
    return None


def _endpoint(route: object, path: object) -> str:
    if route == UNMATCHED:
        return UNMATCHED
    if isinstance(route, str) and route:
        return template_rule(route[:_ROUTE_MAX_INPUT])
    if isinstance(path, str):
        return template_path(path[:_ROUTE_MAX_INPUT])
    return UNMATCHED


def scrub_request(payload: Mapping[str, Any]) -> Scrubbed:
    """Build ``RequestFinished`` for one request (``count`` 1) from a ``request_finished`` payload.

    Its median and longest duration are the request's own; the runtime merges these
    single requests per delivery window (:mod:`visivo.telemetry.policy.aggregate`).
    """
    return _scrubbed_request(
        _endpoint(payload.get("route"), payload.get("path")),
        normalize_method(payload.get("method")),
        _status_code(payload.get("status_code")),
        _duration_ms(payload.get("duration_ms")),
        () if payload.keys() <= REQUEST_KEYWORDS else _stripped(payload, REQUEST_KEYWORDS),
    )


# A server repeats a few endpoints, statuses and whole-millisecond durations: building
# the frozen objects once per combination keeps the telemetry thread's work per request low.
@functools.lru_cache(maxsize=4096)
def _scrubbed_request(
    endpoint: str,
    method: str,
    status_code: int | None,
    duration_ms: int | None,
    stripped: tuple[str, ...],
) -> Scrubbed:
    properties = RequestFinished(
        endpoint=endpoint,
        method=method,
        status_code=status_code,
        count=1,
        duration_median_ms=duration_ms,
        duration_max_ms=duration_ms,
    )
    return Scrubbed(properties, stripped)
