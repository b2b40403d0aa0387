"""Normalisers: what a signal keyword's value becomes in a schema field.

Pure functions of raw keyword values, named by the field declarations in
:mod:`visivo.telemetry.schema`. Each returns the field's value, or ``None`` when the
value is not acceptable (the field is then left out, or takes its declared fallback).
They read values, never change them, and run no method of a caller's object beyond
what a plain ``dict``, ``str``, ``int`` or exception class offers. (The method's
normaliser is :func:`visivo.telemetry.policy.routes.normalize_method`.)
"""

from __future__ import annotations

import functools
import math
import re
import sys
from collections.abc import Hashable, Mapping
from typing import Final, cast

from visivo.telemetry.limits import (
    COMMAND_PATTERN,
    ERROR_TYPE_PATTERN,
    MAX_COUNT,
    MAX_DURATION_MS,
    MAX_OBJECT_TYPES,
    OBJECT_TYPE_PATTERN,
)
from visivo.telemetry.policy.routes import UNMATCHED, template_path, template_rule

__all__ = [
    "boolean",
    "command_name",
    "count",
    "duration_ms",
    "endpoint",
    "error_type",
    "object_counts",
    "status_code",
]

_command_re: Final = re.compile(COMMAND_PATTERN)
_error_type_re: Final = re.compile(ERROR_TYPE_PATTERN)
_object_type_re: Final = re.compile(OBJECT_TYPE_PATTERN)
_ROUTE_MAX_INPUT: Final = 2048
_COMMAND_MAX_INPUT: Final = 160


def boolean(value: object) -> bool | None:
    """``True`` or ``False``; anything else (``1``, ``"yes"``) is not a boolean."""
    return value if type(value) is bool else None


def count(value: object) -> int | None:
    """A non-negative plausible count. ``True`` is not a count."""
    if type(value) is int and 0 <= value <= MAX_COUNT:
        return value
    return None


def duration_ms(value: object) -> int | None:
    """Whole milliseconds from a finite, non-negative number within a week."""
    if type(value) is int:
        return value if 0 <= value <= MAX_DURATION_MS else None
    if type(value) is not float or not math.isfinite(value):
        return None
    return round(value) if 0 <= value <= MAX_DURATION_MS else None


def command_name(value: object) -> str | None:
    """A command's path below the root group, lower-cased and trimmed."""
    if isinstance(value, str) and len(value) <= _COMMAND_MAX_INPUT:
        # str.__str__ gives a plain str and runs no method of a str subclass.
        return _checked_command_name(value if type(value) is str else str.__str__(value))
    return None


@functools.lru_cache(maxsize=1024)
def _checked_command_name(value: str) -> str | None:
    # A CLI has few commands and repeats them: the check is cached.
    name = value.strip().lower()
    return name if _command_re.fullmatch(name) else None


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


def error_type(value: object) -> str | None:
    """The class name of an exception (instance or class); never its message.

    The nearest class in its MRO that a class statement made and whose name is a plain
    identifier: a class created at run time is reported as the class it derives from.
    """
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


def object_counts(value: object) -> dict[str, int] | None:
    """Object-type name → count, keeping only valid entries, at most MAX_OBJECT_TYPES."""
    if not isinstance(value, Mapping):
        return None
    counts: dict[str, int] = {}
    for key, number in value.items():
        if len(counts) >= MAX_OBJECT_TYPES:
            break
        if isinstance(key, str) and _object_type_re.fullmatch(key):
            checked = count(number)
            if checked is not None:
                counts[key] = checked
    return counts or None


def status_code(value: object) -> int | None:
    """An HTTP status code, 100 to 599."""
    if type(value) is int and 100 <= value <= 599:
        return value
    return None


def endpoint(route: object, path: object) -> str:
    """The router's rule templated, else the raw path templated, else ``{unmatched}``."""
    if isinstance(route, str) and route == UNMATCHED:
        return UNMATCHED
    if isinstance(route, str) and route:
        return template_rule(route[:_ROUTE_MAX_INPUT])
    if isinstance(path, str):
        return template_path(path[:_ROUTE_MAX_INPUT])
    return UNMATCHED
