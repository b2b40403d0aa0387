"""What may leave the process: the event classes, their envelope, and their wire form.

Every field that can be sent is an attrs field below, with a description, an example and
its constraints in the field's metadata. :mod:`visivo.telemetry.policy.scrub` builds
these classes from raw signal payloads; nothing else reaches a sink. The wire form comes
from one private cattrs converter (:func:`to_wire`).
"""

from __future__ import annotations

import functools
import sys
import time
import uuid
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any, ClassVar, Final, Literal

import attrs

from visivo.telemetry._version import __version__

if TYPE_CHECKING:
    import cattrs

__all__ = [
    "COMMAND_PATTERN",
    "ENDPOINT_MAX_LENGTH",
    "ENDPOINT_PATTERN",
    "ERROR_TYPE_PATTERN",
    "EVENT_CLASSES",
    "HTTP_METHODS",
    "INVALID",
    "MAX_COUNT",
    "MAX_DURATION_MS",
    "MAX_OBJECT_TYPES",
    "OBJECT_TYPE_PATTERN",
    "OTHER_METHOD",
    "PYTHON_VERSION_PATTERN",
    "SCHEMA_VERSION",
    "SESSION_ID_PATTERN",
    "VERSION_PATTERN",
    "CommandFinished",
    "Envelope",
    "Metadata",
    "Properties",
    "RequestFinished",
    "converter_to_wire",
    "format_timestamp",
    "to_wire",
]

SCHEMA_VERSION: Final = 2

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
_WIRE_COMMAND_PATTERN: Final = r"^(\{invalid\}|" + COMMAND_PATTERN[1:-1] + r")$"


def _describe(description: str, example: Any, **constraints: Any) -> dict[str, Any]:
    """Field metadata read by the schema generator: a description, an example, limits."""
    return {"description": description, "example": example, "constraints": constraints}


@attrs.frozen
class CommandFinished:
    """A CLI command ended."""

    EVENT: ClassVar[str] = "command_finished"

    command: str = attrs.field(
        metadata=_describe(
            "The command's path below the root group; `{invalid}` when the name was unusable.",
            "run",
            pattern=_WIRE_COMMAND_PATTERN,
        )
    )
    duration_ms: int | None = attrs.field(
        default=None,
        metadata=_describe(
            "Wall-clock duration in milliseconds.", 1834, minimum=0, maximum=MAX_DURATION_MS
        ),
    )
    success: bool | None = attrs.field(
        default=None,
        metadata=_describe("Whether the command ended without an error.", False),
    )
    error_type: str | None = attrs.field(
        default=None,
        metadata=_describe(
            "The class name of the exception that ended the command; never its message.",
            "ValueError",
            pattern=ERROR_TYPE_PATTERN,
        ),
    )
    jobs: int | None = attrs.field(
        default=None,
        metadata=_describe("How many jobs `run` ran.", 12, minimum=0, maximum=MAX_COUNT),
    )
    object_counts: Mapping[str, int] | None = attrs.field(
        default=None,
        metadata=_describe(
            "How many objects of each type `compile` found.",
            {"chart": 4, "trace": 9},
            key_pattern=OBJECT_TYPE_PATTERN,
            max_properties=MAX_OBJECT_TYPES,
            minimum=0,
            maximum=MAX_COUNT,
        ),
    )


@attrs.frozen
class RequestFinished:
    """The Visivo server answered HTTP requests: one event per endpoint, method and status.

    Requests are merged per delivery window; ``count`` says how many this event stands for.
    """

    EVENT: ClassVar[str] = "request_finished"

    endpoint: str = attrs.field(
        metadata=_describe(
            "The route template, placeholders as `{name}`; `{unmatched}` when no route "
            "matched. Never a query string.",
            "/api/project/{project_id}",
            pattern=ENDPOINT_PATTERN,
            max_length=ENDPOINT_MAX_LENGTH,
        )
    )
    method: str = attrs.field(
        metadata=_describe(
            "The HTTP method; `OTHER` for anything outside the standard set.",
            "GET",
            enum=sorted(HTTP_METHODS | {OTHER_METHOD}),
        )
    )
    count: int = attrs.field(
        metadata=_describe(
            "How many requests with this endpoint, method and status the event stands for "
            "(requests are merged per delivery window).",
            37,
            minimum=1,
        ),
    )
    status_code: int | None = attrs.field(
        default=None,
        metadata=_describe("The status the client received.", 200, minimum=100, maximum=599),
    )
    duration_median_ms: int | None = attrs.field(
        default=None,
        metadata=_describe(
            "The median of the requests' durations (the lower one of an even count), from "
            "the request entering the app to the response leaving it, in milliseconds.",
            12,
            minimum=0,
            maximum=MAX_DURATION_MS,
        ),
    )
    duration_max_ms: int | None = attrs.field(
        default=None,
        metadata=_describe(
            "The longest of the requests' durations, in milliseconds.",
            48,
            minimum=0,
            maximum=MAX_DURATION_MS,
        ),
    )


Properties = CommandFinished | RequestFinished
EVENT_CLASSES: Final[tuple[type[CommandFinished], type[RequestFinished]]] = (
    CommandFinished,
    RequestFinished,
)

OsName = Literal["linux", "darwin", "windows", "other"]


def _os_name(platform: str) -> OsName:
    if platform.startswith("linux"):
        return "linux"
    if platform == "darwin":
        return "darwin"
    if platform in ("win32", "cygwin", "msys"):
        return "windows"
    return "other"


@attrs.frozen
class Metadata:
    """What every event of one process shares."""

    session_id: str = attrs.field(
        metadata=_describe(
            "A random UUID4 made at process start; never stored, tied to nobody.",
            "0b8e4f5c-5d0a-4a57-9a57-6f0e7a9f3c11",
            format="uuid",
            pattern=SESSION_ID_PATTERN,
        )
    )
    visivo_version: str = attrs.field(
        metadata=_describe(
            "The visivo-telemetry version.", "1.2.0", pattern=VERSION_PATTERN, max_length=32
        )
    )
    python_version: str = attrs.field(
        metadata=_describe(
            "major.minor.micro of the Python running Visivo.",
            "3.11.7",
            pattern=PYTHON_VERSION_PATTERN,
        )
    )
    os: OsName = attrs.field(
        metadata=_describe(
            "The operating system family.", "linux", enum=["linux", "darwin", "windows", "other"]
        )
    )

    @classmethod
    def for_this_process(cls) -> Metadata:
        """Fresh metadata with a new session id for the running interpreter."""
        info = sys.version_info
        return cls(
            session_id=str(uuid.uuid4()),
            visivo_version=__version__,
            python_version=f"{info.major}.{info.minor}.{info.micro}",
            os=_os_name(sys.platform),
        )


@attrs.frozen
class Envelope:
    """One event as sinks receive it: the properties, when, and the process metadata.

    ``stripped`` names the keywords the policy removed; debug sinks show them, and they
    never appear on the wire.
    """

    properties: Properties
    timestamp: float = attrs.field(
        metadata=_describe(
            "When the event happened, UTC, ISO 8601 with milliseconds.",
            "2026-11-25T18:56:33.123Z",
            format="date-time",
        )
    )
    metadata: Metadata
    stripped: tuple[str, ...] = ()

    @property
    def event(self) -> str:
        """The event's name (``command_finished``, ``request_finished``)."""
        return self.properties.EVENT


@functools.lru_cache(maxsize=64)
def _second(whole: int) -> str:
    # Events come in bursts within the same second; strftime is the slow part.
    return time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(whole))


def format_timestamp(epoch_s: float) -> str:
    """ISO 8601 UTC with milliseconds and a ``Z``: ``2026-11-25T18:56:33.123Z``."""
    whole, millis = divmod(round(epoch_s * 1000), 1000)
    return f"{_second(whole)}.{millis:03d}Z"


def _make_converter() -> cattrs.Converter:
    """The one converter for the wire form.

    Rules: property fields that are ``None`` are omitted; mappings become plain dicts;
    an envelope is flattened to ``event, schema_version, timestamp, <metadata fields>,
    properties`` and its ``stripped`` names are left out.
    """
    import cattrs
    from cattrs.gen import make_dict_unstructure_fn

    converter = cattrs.Converter()
    for cls in EVENT_CLASSES:
        converter.register_unstructure_hook(
            cls, make_dict_unstructure_fn(cls, converter, _cattrs_omit_if_default=True)
        )
    metadata_fn = make_dict_unstructure_fn(Metadata, converter)

    def unstructure_envelope(envelope: Envelope) -> dict[str, Any]:
        wire: dict[str, Any] = {
            "event": envelope.properties.EVENT,
            "schema_version": SCHEMA_VERSION,
            "timestamp": format_timestamp(envelope.timestamp),
        }
        wire.update(metadata_fn(envelope.metadata))
        wire["properties"] = converter.unstructure(
            envelope.properties, unstructure_as=type(envelope.properties)
        )
        return wire

    converter.register_unstructure_hook(Envelope, unstructure_envelope)
    return converter


# Per event class: (field name, whether it is always sent) in declaration order.
_WIRE_FIELDS: Final = {
    cls: tuple((f.name, f.default is attrs.NOTHING) for f in attrs.fields(cls))
    for cls in EVENT_CLASSES
}
_METADATA_FIELDS: Final = tuple(f.name for f in attrs.fields(Metadata))


@functools.cache
def _converter() -> cattrs.Converter:
    # Built on first use: the emit path uses to_wire, so importing cattrs and generating
    # the hooks would only slow every host's start-up.
    return _make_converter()


def converter_to_wire(envelope: Envelope) -> dict[str, Any]:
    """:func:`to_wire` through the cattrs converter: the reference that defines the wire form."""
    result: dict[str, Any] = _converter().unstructure(envelope, unstructure_as=Envelope)
    return result


def to_wire(envelope: Envelope) -> dict[str, Any]:
    """The JSON-ready dict of one envelope, exactly as the http sink sends it.

    A direct path that the tests hold equal to :func:`converter_to_wire` (it runs once
    per event on the sending thread, about three times faster).
    """
    properties = envelope.properties
    props: dict[str, Any] = {}
    for name, required in _WIRE_FIELDS[type(properties)]:
        value = getattr(properties, name)
        if value is not None:
            props[name] = value if type(value) in _SCALARS else dict(value)
        elif required:
            props[name] = value
    wire: dict[str, Any] = {
        "event": properties.EVENT,
        "schema_version": SCHEMA_VERSION,
        "timestamp": format_timestamp(envelope.timestamp),
    }
    wire.update(_metadata_wire(envelope.metadata))
    wire["properties"] = props
    return wire


# Property values that are copied as they are; anything else is a mapping made a dict.
_SCALARS: Final = frozenset({str, int, float, bool})


@functools.lru_cache(maxsize=4)
def _metadata_wire(metadata: Metadata) -> dict[str, Any]:
    # One Metadata per process (a new one after fork): its wire fields never change.
    return {name: getattr(metadata, name) for name in _METADATA_FIELDS}
