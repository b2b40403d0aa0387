"""What may leave the process: every field, declared once, and the events that hold them.

A field of an event is one attrs field below, declared with :func:`property_field`:
its type (the annotation), description, example and constraints, the signal keyword(s)
it comes from and the normaliser that turns their values into the field, and its name on
each backend's wire. Everything else derives from these declarations: the scrubber's
allow-list and validation (:mod:`visivo.telemetry.policy.scrub`), the JSON Schema and the
docs tables (:mod:`visivo.telemetry.schema_doc`), the per-backend names
(:func:`wire_names`) and the wire form (:func:`to_wire`).

``SCHEMA_VERSION`` changes with every change to an event's fields; the JSON Schema of
each published version is kept unchanged (``docs/schemas``).
"""

from __future__ import annotations

import functools
import sys
import time
import typing
import uuid
from collections.abc import Callable, Mapping
from types import MappingProxyType
from typing import TYPE_CHECKING, Any, ClassVar, Final, Literal

import attrs

from visivo.telemetry._version import __version__

if TYPE_CHECKING:
    import cattrs
from visivo.telemetry.limits import (
    ENDPOINT_MAX_LENGTH,
    ENDPOINT_PATTERN,
    ERROR_TYPE_PATTERN,
    HTTP_METHODS,
    INVALID,
    MAX_COUNT,
    MAX_DURATION_MS,
    MAX_OBJECT_TYPES,
    OBJECT_TYPE_PATTERN,
    OTHER_METHOD,
    PYTHON_VERSION_PATTERN,
    SESSION_ID_PATTERN,
    VERSION_PATTERN,
    WIRE_COMMAND_PATTERN,
)
from visivo.telemetry.policy import values
from visivo.telemetry.policy.routes import UNMATCHED, normalize_method

__all__ = [
    "BACKENDS",
    "EVENT_CLASSES",
    "SCHEMA_VERSION",
    "CommandFinished",
    "Envelope",
    "Metadata",
    "Properties",
    "RequestFinished",
    "Source",
    "WireName",
    "event_keywords",
    "field_sources",
    "format_timestamp",
    "mapping_keywords",
    "prepare_wire",
    "property_field",
    "to_wire",
    "wire_names",
]

# Bump with every change to an event's fields (added, removed, renamed, retyped or
# constrained differently), then publish the new version's JSON Schema.
SCHEMA_VERSION: Final = 2

# The backends whose wire names every field has: OTLP log attributes and PostHog properties.
BACKENDS: Final = ("otlp", "posthog")
Backend = Literal["otlp", "posthog"]


def _read_only(mapping: Mapping[str, str]) -> Mapping[str, str]:
    return MappingProxyType(dict(mapping))


@attrs.frozen
class WireName:
    """A field's name and value kind on one backend's wire.

    Attributes:
        name: the attribute (OTLP) or property (PostHog) name.
        kind: the OTLP ``AnyValue`` kind (``stringValue``, ``intValue``, ``boolValue``,
            ``doubleValue``, ``kvlistValue``); for PostHog, the JSON type.
        item_kind: for a ``kvlistValue``, the kind of each value.
        values: values renamed on this wire (``OTHER`` is ``_OTHER`` in OTLP).
    """

    name: str
    kind: str
    item_kind: str | None = None
    values: Mapping[str, str] = attrs.field(factory=dict, converter=_read_only)


@attrs.frozen
class Source:
    """Where a field's value comes from.

    Attributes:
        keywords: the signal keywords read, in the order ``normalise`` takes them; none
            for a field that no keyword carries (set on the telemetry thread, such as an
            aggregate), which the scrubber sets to ``fallback``.
        normalise: raw keyword values → the field's value, or ``None`` when unacceptable.
        fallback: the value when ``normalise`` gives ``None`` or fails; ``None`` leaves an
            optional field out. A field with a fallback is required (always sent).
    """

    keywords: tuple[str, ...]
    normalise: Callable[..., Any] | None
    fallback: Any = None


def _describe(description: str, example: Any, **constraints: Any) -> dict[str, Any]:
    """Field metadata read by the schema generator: a description, an example, limits."""
    return {"description": description, "example": example, "constraints": constraints}


def property_field(
    description: str,
    example: Any,
    *,
    keyword: str | tuple[str, ...] = (),
    normalise: Callable[..., Any] | None = None,
    fallback: Any = None,
    otlp: WireName | None = None,
    **constraints: Any,
) -> Any:
    """Declare one field of an event: everything about it, in one place.

    Args:
        description: one line for the docs.
        example: a value that meets the constraints.
        keyword: the signal keyword it comes from (several for a field built from more
            than one, passed to ``normalise`` in this order); none for a field that no
            keyword carries.
        normalise: turns the keyword values into the field's value (see :class:`Source`);
            required with a keyword, refused without one.
        fallback: the value sent when ``normalise`` gives nothing; makes the field required.
        otlp: its OTLP attribute, when not ``visivo.<field>`` of the kind its type implies.
        constraints: JSON Schema limits (``pattern``, ``minimum``, ``maximum``,
            ``max_length``, ``enum``, ``key_pattern``, ``max_properties``).
    """
    keywords = (keyword,) if isinstance(keyword, str) else tuple(keyword)
    if bool(keywords) != (normalise is not None):
        raise ValueError("a field read from a keyword needs a normaliser, and only then")
    metadata = {
        **_describe(description, example, **constraints),
        "source": Source(keywords, normalise, fallback),
        "otlp": otlp,
    }
    if fallback is None:
        return attrs.field(default=None, metadata=metadata)
    return attrs.field(metadata=metadata)


@attrs.frozen
class CommandFinished:
    """A CLI command ended."""

    EVENT: ClassVar[str] = "command_finished"

    command: str = property_field(
        "The command's path below the root group; `{invalid}` when the name was unusable.",
        "run",
        keyword="command",
        normalise=values.command_name,
        fallback=INVALID,
        pattern=WIRE_COMMAND_PATTERN,
    )
    duration_ms: int | None = property_field(
        "Wall-clock duration in milliseconds.",
        1834,
        keyword="duration_ms",
        normalise=values.duration_ms,
        minimum=0,
        maximum=MAX_DURATION_MS,
    )
    success: bool | None = property_field(
        "Whether the command ended without an error.",
        False,
        keyword="success",
        normalise=values.boolean,
    )
    error_type: str | None = property_field(
        "The class name of the exception that ended the command; never its message.",
        "ValueError",
        keyword="error",
        normalise=values.error_type,
        otlp=WireName("error.type", "stringValue"),
        pattern=ERROR_TYPE_PATTERN,
    )
    jobs: int | None = property_field(
        "How many jobs `run` ran.",
        12,
        keyword="jobs",
        normalise=values.count,
        minimum=0,
        maximum=MAX_COUNT,
    )
    object_counts: Mapping[str, int] | None = property_field(
        "How many objects of each type `compile` found.",
        {"chart": 4, "trace": 9},
        keyword="object_counts",
        normalise=values.object_counts,
        key_pattern=OBJECT_TYPE_PATTERN,
        max_properties=MAX_OBJECT_TYPES,
        minimum=0,
        maximum=MAX_COUNT,
    )


@attrs.frozen
class RequestFinished:
    """The Visivo server answered HTTP requests: one event per endpoint, method and status.

    Requests are merged per delivery window; ``count`` says how many this event stands for.
    """

    EVENT: ClassVar[str] = "request_finished"

    endpoint: str = property_field(
        "The route template, placeholders as `{name}`; `{unmatched}` when no route "
        "matched. Never a query string.",
        "/api/project/{project_id}",
        keyword=("route", "path"),
        normalise=values.endpoint,
        fallback=UNMATCHED,
        otlp=WireName("http.route", "stringValue"),
        pattern=ENDPOINT_PATTERN,
        max_length=ENDPOINT_MAX_LENGTH,
    )
    method: str = property_field(
        "The HTTP method; `OTHER` for anything outside the standard set.",
        "GET",
        keyword="method",
        normalise=normalize_method,
        fallback=OTHER_METHOD,
        otlp=WireName("http.request.method", "stringValue", values={OTHER_METHOD: "_OTHER"}),
        enum=sorted(HTTP_METHODS | {OTHER_METHOD}),
    )
    count: int = property_field(
        "How many requests with this endpoint, method and status the event stands for "
        "(requests are merged per delivery window).",
        37,
        fallback=1,
        minimum=1,
    )
    status_code: int | None = property_field(
        "The status the client received.",
        200,
        keyword="status_code",
        normalise=values.status_code,
        otlp=WireName("http.response.status_code", "intValue"),
        minimum=100,
        maximum=599,
    )
    duration_median_ms: int | None = property_field(
        "The median of the requests' durations (the lower one of an even count), from "
        "the request entering the app to the response leaving it, in milliseconds.",
        12,
        keyword="duration_ms",
        normalise=values.duration_ms,
        minimum=0,
        maximum=MAX_DURATION_MS,
    )
    duration_max_ms: int | None = property_field(
        "The longest of the requests' durations, in milliseconds.",
        48,
        keyword="duration_ms",
        normalise=values.duration_ms,
        minimum=0,
        maximum=MAX_DURATION_MS,
    )


Properties = CommandFinished | RequestFinished
EVENT_CLASSES: Final[tuple[type[CommandFinished], type[RequestFinished]]] = (
    CommandFinished,
    RequestFinished,
)


def field_sources(cls: type) -> tuple[tuple[str, Source], ...]:
    """Each declared field of an event class and its :class:`Source`, in declaration order."""
    found = []
    for field in attrs.fields(cls):
        source = field.metadata.get("source")
        if not isinstance(source, Source):
            raise ValueError(f"{cls.__name__}.{field.name} is not declared with property_field")
        found.append((field.name, source))
    return tuple(found)


def event_keywords(cls: type) -> frozenset[str]:
    """The signal keywords an event reads: its allow-list. Everything else is stripped."""
    return frozenset(keyword for _, source in field_sources(cls) for keyword in source.keywords)


def _is_mapping(cls: type, name: str) -> bool:
    return _kinds(typing.get_type_hints(cls)[name])[0] == "kvlistValue"


def mapping_keywords(event_classes: tuple[type, ...] = EVENT_CLASSES) -> frozenset[str]:
    """The keywords read into mapping fields: containers the host may change after sending."""
    return frozenset(
        keyword
        for cls in event_classes
        for name, source in field_sources(cls)
        if _is_mapping(cls, name)
        for keyword in source.keywords
    )


# Python type of a field → (OTLP AnyValue kind, JSON type).
_KINDS: Final[Mapping[type, tuple[str, str]]] = {
    bool: ("boolValue", "boolean"),
    int: ("intValue", "integer"),
    float: ("doubleValue", "number"),
    str: ("stringValue", "string"),
}


def _kinds(annotation: Any) -> tuple[str, str, str | None]:
    """The OTLP kind, JSON type and (for a mapping) OTLP item kind of a field's type."""
    args = [arg for arg in typing.get_args(annotation) if arg is not type(None)]
    if args and typing.get_origin(annotation) is not None and len(args) == 1:
        annotation = args[0]  # X | None
    if annotation in _KINDS:
        kind, json_type = _KINDS[annotation]
        return kind, json_type, None
    origin = typing.get_origin(annotation)
    if isinstance(origin, type) and issubclass(origin, Mapping):
        item_kind = _KINDS[typing.get_args(annotation)[1]][0]
        return "kvlistValue", "object", item_kind
    raise ValueError(f"no wire kind for type {annotation!r}")


def _wire_name(cls: type, field: attrs.Attribute[Any], backend: Backend) -> WireName:
    kind, json_type, item_kind = _kinds(typing.get_type_hints(cls)[field.name])
    if backend == "posthog":
        return WireName(field.name, json_type)
    declared = field.metadata.get("otlp")
    if isinstance(declared, WireName):
        return declared
    return WireName(f"visivo.{field.name}", kind, item_kind)


@functools.cache
def wire_names(
    backend: Backend, event_classes: tuple[type, ...] = EVENT_CLASSES
) -> Mapping[str, Mapping[str, WireName]]:
    """Per event name, per property: its name and kind on one backend's wire.

    OTLP: the declared attribute, else ``visivo.<property>`` of the kind its type implies.
    PostHog: the property keeps its envelope name.
    """
    if backend not in BACKENDS:
        raise ValueError(f"unknown backend {backend!r}; known: {', '.join(BACKENDS)}")
    return MappingProxyType(
        {
            cls.EVENT: MappingProxyType(  # type: ignore[attr-defined]
                {f.name: _wire_name(cls, f, backend) for f in attrs.fields(cls)}
            )
            for cls in event_classes
        }
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
            "The host's version (Visivo's).", "1.2.0", pattern=VERSION_PATTERN, max_length=32
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

    @property
    def signals(self) -> int:
        """How many signals this event stands for: a merged request event its ``count``.

        Sinks that count what they delivered count signals, so that their counts add up
        with the batcher's (which counts every signal it was handed).
        """
        count = getattr(self.properties, "count", 1)
        return count if type(count) is int and count > 0 else 1


@functools.lru_cache(maxsize=64)
def _second(whole: int) -> str:
    # Events come in bursts within the same second; strftime is the slow part.
    return time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(whole))


def format_timestamp(epoch_s: float) -> str:
    """ISO 8601 UTC with milliseconds and a ``Z``: ``2026-11-25T18:56:33.123Z``."""
    whole, millis = divmod(round(epoch_s * 1000), 1000)
    return f"{_second(whole)}.{millis:03d}Z"


@functools.cache
def _converter() -> cattrs.Converter:
    """The one private converter. Built on first use, so that a process that sends
    nothing never imports cattrs."""
    import cattrs

    return cattrs.Converter()


# Generated functions by class; pure and derived from the declarations, so never reset.
_unstructure_functions: dict[type, Callable[[Any], dict[str, Any]]] = {}


def _unstructure_function(cls: type) -> Callable[[Any], dict[str, Any]]:
    """The cattrs-generated function that writes one attrs class as a dict.

    Rules: fields of an event class equal to their default (``None``) are omitted;
    mappings become plain dicts; every Metadata field is written.
    """
    function = _unstructure_functions.get(cls)
    if function is None:
        from cattrs.gen import make_dict_unstructure_fn

        omit_none = cls is not Metadata
        function = make_dict_unstructure_fn(cls, _converter(), _cattrs_omit_if_default=omit_none)
        _unstructure_functions[cls] = function
    return function


def prepare_wire() -> None:
    """Import cattrs and generate every wire function now, so the first send does not wait."""
    for cls in (*EVENT_CLASSES, Metadata):
        _unstructure_function(cls)


def to_wire(envelope: Envelope) -> dict[str, Any]:
    """The JSON-ready dict of one envelope: the one wire form every sink writes.

    ``event, schema_version, timestamp, <metadata fields>, properties``, with ``None``
    properties left out; ``stripped`` never leaves the process.
    """
    properties = envelope.properties
    wire: dict[str, Any] = {
        "event": properties.EVENT,
        "schema_version": SCHEMA_VERSION,
        "timestamp": format_timestamp(envelope.timestamp),
    }
    wire.update(_metadata_wire(envelope.metadata))
    wire["properties"] = _unstructure_function(type(properties))(properties)
    return wire


@functools.lru_cache(maxsize=4)
def _metadata_wire(metadata: Metadata) -> dict[str, Any]:
    # One Metadata per process (a new one after fork): its wire fields never change.
    return _unstructure_function(Metadata)(metadata)
