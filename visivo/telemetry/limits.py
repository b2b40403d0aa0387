"""The limits and patterns that a value must meet to be sent.

A leaf module (it imports nothing of ours), so that the schema's field declarations,
the normalisers that enforce them and route templating can all share one definition.
"""

from __future__ import annotations

from typing import Final

__all__ = [
    "COMMAND_PATTERN",
    "ENDPOINT_MAX_LENGTH",
    "ENDPOINT_PATTERN",
    "ERROR_TYPE_PATTERN",
    "HTTP_METHODS",
    "INVALID",
    "MAX_COUNT",
    "MAX_DURATION_MS",
    "MAX_OBJECT_TYPES",
    "OBJECT_TYPE_PATTERN",
    "OTHER_METHOD",
    "PYTHON_VERSION_PATTERN",
    "SESSION_ID_PATTERN",
    "VERSION_PATTERN",
    "WIRE_COMMAND_PATTERN",
]

# A command's path below the root group: up to four lowercase words ("db migrate").
COMMAND_PATTERN: Final = r"^[a-z][a-z0-9_-]{0,31}( [a-z][a-z0-9_-]{0,31}){0,3}$"
# A Python class name, as ``type(error).__name__`` gives it.
ERROR_TYPE_PATTERN: Final = r"^[A-Za-z_][A-Za-z0-9_]{0,63}$"
# Visivo object types ("chart", "trace", "table"...).
OBJECT_TYPE_PATTERN: Final = r"^[a-z][a-z0-9_]{0,31}$"
MAX_OBJECT_TYPES: Final = 32
# Counts above this are not plausible for jobs or objects and could carry other data.
MAX_COUNT: Final = 1_000_000
# One week: a longer duration is a clock error, not a measurement.
MAX_DURATION_MS: Final = 7 * 24 * 3600 * 1000
ENDPOINT_MAX_LENGTH: Final = 256
# What policy.routes can produce: "{unmatched}", or "/" and segments that are route words,
# "{placeholder}" names, "{id}" or the "{...}" of a cut path.
ENDPOINT_PATTERN: Final = r"^(\{unmatched\}|/[a-z0-9._{}/-]*)$"
# uuid.uuid4() as str() writes it.
SESSION_ID_PATTERN: Final = r"^[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$"
# A PEP 440 version (a host's or this package's), and sys.version_info as major.minor.micro.
VERSION_PATTERN: Final = r"^[0-9][0-9A-Za-z.+!_-]*$"
PYTHON_VERSION_PATTERN: Final = r"^[0-9]{1,3}\.[0-9]{1,3}\.[0-9]{1,3}$"
# RFC 9110 section 9 methods, plus PATCH (RFC 5789).
HTTP_METHODS: Final = frozenset(
    {"GET", "HEAD", "POST", "PUT", "DELETE", "CONNECT", "OPTIONS", "TRACE", "PATCH"}
)
OTHER_METHOD: Final = "OTHER"
# Stands in for a required value that failed validation.
INVALID: Final = "{invalid}"
# On the wire a command is a valid name or the INVALID stand-in.
WIRE_COMMAND_PATTERN: Final = r"^(\{invalid\}|" + COMMAND_PATTERN[1:-1] + r")$"
