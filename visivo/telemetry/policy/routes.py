"""Endpoint templating: turn a router's rule or a raw path into a template safe to send.

Pure functions. A segment survives only when it looks like a fixed route word; numbers,
UUIDs, hex and base64-like tokens, e-mail-like text, encoded or non-ASCII text and any
other unusual segment become ``{id}``.
"""

from __future__ import annotations

import re
from typing import Final

from visivo.telemetry.schema import ENDPOINT_MAX_LENGTH, HTTP_METHODS, OTHER_METHOD

__all__ = [
    "ID_PLACEHOLDER",
    "MAX_SEGMENTS",
    "UNMATCHED",
    "normalize_method",
    "template_path",
    "template_rule",
]

ID_PLACEHOLDER: Final = "{id}"
UNMATCHED: Final = "{unmatched}"
# Deeper paths are cut here and end in "{...}": no Visivo route is this deep.
MAX_SEGMENTS: Final = 12

# A fixed route word: lowercase letters with "-" or "_", an optional short extension
# ("main.js"), no digits except a version-like suffix ("v1", "api2"). Anything else is data.
_WORD: Final = re.compile(r"[a-z]+(?:[-_][a-z]+)*[0-9]?(?:\.[a-z0-9]{1,5})?")
_MAX_WORD: Final = 32
# Hex-only words this long are ids ("deadbeef"), as are unbroken letter runs past 20.
_HEX_WORD: Final = re.compile(r"[a-f]{8,}")
_LONG_RUN: Final = re.compile(r"[a-z]{21,}")
# Flask/werkzeug rule variables: <name>, <converter:name>, <converter(args):name>.
_RULE_VARIABLE: Final = re.compile(r"<(?:[a-zA-Z_][a-zA-Z0-9_]*(?:\([^)<>]*\))?:)?([^<>:]+)>")
_PLACEHOLDER_NAME: Final = re.compile(r"[a-z_][a-z0-9_]{0,31}")
_TRUNCATED: Final = "{...}"


def _template_segment(segment: str) -> str:
    if segment == "":
        return ""
    if (
        len(segment) <= _MAX_WORD
        and _WORD.fullmatch(segment)
        and not _HEX_WORD.fullmatch(segment)
        and not _LONG_RUN.search(segment)
    ):
        return segment
    return ID_PLACEHOLDER


def _join(segments: list[str]) -> str:
    if len(segments) > MAX_SEGMENTS:
        segments = [*segments[:MAX_SEGMENTS], _TRUNCATED]
    endpoint = "/" + "/".join(segments)
    if len(endpoint) > ENDPOINT_MAX_LENGTH:
        return endpoint[: ENDPOINT_MAX_LENGTH - len(_TRUNCATED)] + _TRUNCATED
    return endpoint


def template_path(path: str) -> str:
    """Template a raw request path: ``/api/project/42?x=1`` → ``/api/project/{id}``.

    The query string and fragment are dropped first; repeated slashes collapse.
    """
    path = path.split("?", 1)[0].split("#", 1)[0]
    parts = [part for part in path.split("/") if part]
    return _join([_template_segment(part) for part in parts])


def template_rule(rule: str) -> str:
    """Template a router rule: ``/api/project/<int:project_id>`` → ``/api/project/{project_id}``.

    Fixed words follow the same rules as in :func:`template_path`, so a rule cannot carry
    data either; a variable name that is not a plain identifier becomes ``{id}``.
    """
    segments: list[str] = []
    for part in (p for p in rule.split("/") if p):
        if "<" in part:
            whole = _RULE_VARIABLE.fullmatch(part)
            name = whole.group(1) if whole else None
            if name is not None and _PLACEHOLDER_NAME.fullmatch(name):
                segments.append("{" + name + "}")
            else:
                segments.append(ID_PLACEHOLDER)
        else:
            segments.append(_template_segment(part))
    return _join(segments)


def normalize_method(method: object) -> str:
    """An HTTP method in upper case, or ``OTHER`` outside the standard set."""
    if isinstance(method, str):
        upper = method.upper()
        if upper in HTTP_METHODS:
            return upper
    return OTHER_METHOD
