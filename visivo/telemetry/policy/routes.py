"""Endpoint templating: turn a router's rule or a raw path into a template safe to send.

Pure functions. In a router's rule, a fixed segment survives when it looks like a route
word (the developer wrote it). In a raw path, which is whatever the client asked for and
so may hold project, dashboard or file names, a segment survives only when it is one of
Visivo's own route words (:data:`ROUTE_WORDS`), a version (``v1``) or such a word with a
static-file extension (``main.js``). Numbers, UUIDs, hex and base64-like tokens,
e-mail-like text, encoded or non-ASCII text and any other segment become ``{id}``.
"""

from __future__ import annotations

import functools
import re
from typing import Final

from visivo.telemetry.limits import ENDPOINT_MAX_LENGTH, HTTP_METHODS, OTHER_METHOD

__all__ = [
    "ID_PLACEHOLDER",
    "MAX_SEGMENTS",
    "ROUTE_WORDS",
    "STATIC_EXTENSIONS",
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
# Words of Visivo's server routes (the resources of visivo-io/visivo:visivo/server/views/)
# and of ordinary web apps; the only words a raw path may keep.
ROUTE_WORDS: Final = frozenset(
    {
        # generic web
        "api", "app", "assets", "static", "public", "dist", "build", "css", "js", "img",
        "images", "fonts", "icons", "media", "index", "main", "favicon", "robots",
        "manifest", "health", "healthz", "status", "version", "login", "logout", "auth",
        "callback", "settings", "preferences", "config", "search", "new", "edit", "list",
        "details", "preview", "run", "runs", "jobs", "job", "compile", "reload", "events",
        "ws", "socket",
        # visivo resources
        "project", "projects", "dashboard", "dashboards", "chart", "charts", "trace",
        "traces", "table", "tables", "model", "models", "source", "sources", "insight",
        "insights", "input", "inputs", "metric", "metrics", "dimension", "dimensions",
        "relation", "relations", "markdown", "markdowns", "selector", "selectors", "item",
        "items", "row", "rows", "data", "query", "queries", "schema", "schemas", "file",
        "files", "explorer", "exploration", "explorations", "worksheet", "worksheets",
        "editor", "expression", "expressions", "defaults", "commit", "commits", "cloud",
        "deploy", "agent", "mcp", "draft", "staged", "lineage", "dag", "error", "errors",
    }
)  # fmt: skip
# Extensions a static file of a web app may have ("main.js", "favicon.ico").
STATIC_EXTENSIONS: Final = frozenset(
    {"js", "mjs", "css", "map", "html", "json", "ico", "png", "svg", "jpg", "webp",
     "woff", "woff2", "ttf", "txt", "xml", "webmanifest"}
)  # fmt: skip
_VERSION: Final = re.compile(r"v[0-9]{1,2}")
# Characters and sequences a werkzeug rule never holds outside a variable's converter.
_NOT_A_RULE: Final = re.compile(r"[?#@\\\s]|:/")
_PLACEHOLDER_NAME: Final = re.compile(r"[a-z_][a-z0-9_]{0,31}")
# Literal text beside a variable in one segment (".png" in "<name>.png"): lowercase words
# joined by ".", "-" or "_".
_LITERAL: Final = re.compile(r"[a-z0-9._-]+")
_LITERAL_SEPARATORS: Final = re.compile(r"[._-]")
_TRUNCATED: Final = "{...}"


def _placeholder(name: str) -> str:
    return "{" + name + "}" if _PLACEHOLDER_NAME.fullmatch(name) else ID_PLACEHOLDER


def _keeps_literal(text: str) -> bool:
    """Whether literal text beside a variable is made of route words only."""
    return (
        len(text) <= _MAX_WORD
        and _LITERAL.fullmatch(text) is not None
        and all(_template_segment(word) == word for word in _LITERAL_SEPARATORS.split(text) if word)
    )


def _template_rule_segment(part: str) -> str:
    """One segment of a rule holding variables: each becomes ``{name}``, literal text stays.

    ``<dashboard_name>.png`` → ``{dashboard_name}.png``; the whole segment is ``{id}``
    when its literal text is not made of route words.
    """
    pieces: list[str] = []
    position = 0
    for variable in _RULE_VARIABLE.finditer(part):
        literal = part[position : variable.start()]
        if literal:
            if not _keeps_literal(literal):
                return ID_PLACEHOLDER
            pieces.append(literal)
        pieces.append(_placeholder(variable.group(1)))
        position = variable.end()
    tail = part[position:]
    if tail:
        if not _keeps_literal(tail):
            return ID_PLACEHOLDER
        pieces.append(tail)
    return "".join(pieces)


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


@functools.lru_cache(maxsize=4096)
def _template_path_segment(segment: str) -> str:
    if segment in ROUTE_WORDS or _VERSION.fullmatch(segment):
        return segment
    stem, dot, extension = segment.partition(".")
    if dot and stem in ROUTE_WORDS and extension in STATIC_EXTENSIONS:
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

    The query string and fragment are dropped first; repeated slashes collapse. Only
    :data:`ROUTE_WORDS` (alone, or with a :data:`STATIC_EXTENSIONS` extension) and
    versions survive: ``/dashboard/sales-q3`` → ``/dashboard/{id}``.
    """
    path = path.split("?", 1)[0].split("#", 1)[0]
    parts = [part for part in path.split("/") if part]
    return _join([_template_path_segment(part) for part in parts])


# Apps have few rules and every request repeats one, so templating is cached.
@functools.lru_cache(maxsize=1024)
def template_rule(rule: str) -> str:
    """Template a router rule: ``/api/project/<int:project_id>`` → ``/api/project/{project_id}``.

    Fixed words are kept when they look like route words (the developer wrote them), as
    is such text beside a variable (``/api/dashboards/<name>.png`` →
    ``/api/dashboards/{name}.png``); a variable name that is not a plain identifier
    becomes ``{id}``. Text that cannot be a
    router rule (no leading ``/``, a scheme, query, fragment, ``@``, ``\\`` or whitespace)
    is not trusted as one and is templated as a raw path.
    """
    if not rule.startswith("/") or _NOT_A_RULE.search(_RULE_VARIABLE.sub("", rule)):
        return template_path(rule)
    segments: list[str] = []
    for part in (p for p in rule.split("/") if p):
        if "<" in part:
            segments.append(_template_rule_segment(part))
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
