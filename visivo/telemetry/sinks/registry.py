"""Resolve ``VISIVO_TELEMETRY_SINK`` to one sink: built-ins by name, plugins by entry point.

A typo never sends: if any name in the list is unknown, the whole list resolves to the
null sink and one warning names the unknown entries.
"""

from __future__ import annotations

import functools
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Final

import attrs

from visivo.telemetry.schema import Envelope
from visivo.telemetry.sinks.base import Sink
from visivo.telemetry.sinks.console import ConsoleSink
from visivo.telemetry.sinks.file import FileSink
from visivo.telemetry.sinks.memory import MemorySink
from visivo.telemetry.sinks.null import NullSink

if TYPE_CHECKING:
    from importlib import metadata

__all__ = [
    "DEFAULT_SINK",
    "ENTRY_POINT_GROUP",
    "FanoutSink",
    "ResolvedSink",
    "SinkOptions",
    "check",
    "resolve",
]

ENTRY_POINT_GROUP: Final = "visivo.telemetry.sinks"
DEFAULT_SINK: Final = "http"
_BUILTINS: Final = frozenset({"null", "stdout", "stderr", "memory", "http", "file"})
# Names whose sink writes to this process's console; the first-run notice and the exit
# summary look at these.
CONSOLE_SINKS: Final = frozenset({"stdout", "stderr"})


@attrs.frozen
class SinkOptions:
    """What a sink factory may use. Plugins receive it too.

    Attributes:
        argument: the text after ``name:`` in the spec (``file:/tmp/x`` → ``/tmp/x``).
        endpoint: the http endpoint, already chosen from the environment or global file.
        env: the environment, for proxy settings.
        state_dir: where network sinks keep the delivery state shared by processes
            (``~/.visivo``); ``None`` keeps no state.
    """

    argument: str | None
    endpoint: str
    env: Mapping[str, str]
    state_dir: Path | None = None


SinkFactory = Callable[[SinkOptions], Sink]


@attrs.frozen
class ResolvedSink:
    """The sink a spec resolved to, the names it was built from, and any problem."""

    sink: Sink
    names: tuple[str, ...]
    problem: str | None = None


class FanoutSink:
    """Sends each batch to several sinks; one failing does not stop the others."""

    def __init__(self, sinks: Sequence[Sink]) -> None:
        self.sinks = tuple(sinks)

    def send(self, batch: Sequence[Envelope]) -> None:
        """Send to every sink, then re-raise the first failure (for counting)."""
        first_error: Exception | None = None
        for sink in self.sinks:
            try:
                sink.send(batch)
            except Exception as error:  # noqa: BLE001 - re-raised below, counted by the batcher
                first_error = first_error or error
        if first_error is not None:
            raise first_error

    def close(self, timeout: float) -> None:
        """Close every sink (the time is shared, not given to each)."""
        for sink in self.sinks:
            sink.close(timeout)


def _split(spec: str) -> list[tuple[str, str | None]]:
    entries: list[tuple[str, str | None]] = []
    for raw in spec.split(","):
        item = raw.strip()
        if not item:
            continue
        name, sep, argument = item.partition(":")
        entries.append((name.strip().lower(), argument if sep else None))
    return entries


def _builtin(name: str, options: SinkOptions) -> Sink | str:
    """The built-in sink, or a problem string when its argument is wrong."""
    if name == "null":
        return NullSink()
    if name in ("stdout", "stderr"):
        return ConsoleSink.stdout() if name == "stdout" else ConsoleSink.stderr()
    if name == "memory":
        return MemorySink()
    if name == "file":
        if not options.argument:
            return "file sink needs a path: file:PATH"

        return FileSink(options.argument)
    from visivo.telemetry.sinks.gate import DeliveryGate
    from visivo.telemetry.sinks.http import HttpSink  # imports no network code until used

    state_dir = options.state_dir
    gate = None if state_dir is None else DeliveryGate(state_dir, options.endpoint)
    http_sink: Sink = HttpSink(options.endpoint, env=options.env, gate=gate)
    return http_sink


def _load_plugin(entry_point: metadata.EntryPoint, options: SinkOptions) -> Sink:
    factory: SinkFactory = entry_point.load()
    return factory(options)


def _plugins() -> dict[str, metadata.EntryPoint]:
    # Imported here: it costs tens of ms and only names that are not built in need it.
    from importlib import metadata

    return {ep.name.lower(): ep for ep in metadata.entry_points(group=ENTRY_POINT_GROUP)}


def check(spec: str | None) -> tuple[tuple[str, ...], str | None]:
    """The sink names a spec selects and its problem, without building or loading anything."""
    entries = _split(spec or "") or [(DEFAULT_SINK, None)]
    plugins: dict[str, metadata.EntryPoint] | None = None
    unknown: list[str] = []
    for name, argument in entries:
        if name == "file" and not argument:
            return ("null",), "file sink needs a path: file:PATH"
        if name in _BUILTINS:
            continue
        if plugins is None:
            plugins = _plugins()
        if name not in plugins:
            unknown.append(name)
    if unknown:
        return ("null",), f"unknown sink {', '.join(map(repr, unknown))}: sending nothing"
    return tuple(name for name, _ in entries), None


def resolve(
    spec: str | None,
    *,
    endpoint: str,
    env: Mapping[str, str],
    warn: Callable[[str], None],
    state_dir: Path | None = None,
) -> ResolvedSink:
    """Build the sink for a comma-separated spec such as ``"http,stderr"``.

    An empty or missing spec means the default (``http``). Plugins are looked up only
    for names that are not built in, and loaded only when named.
    """

    entries = _split(spec or "") or [(DEFAULT_SINK, None)]
    plugins: dict[str, metadata.EntryPoint] | None = None
    factories: list[tuple[str, Callable[[SinkOptions], Sink | str], str | None]] = []
    unknown: list[str] = []
    for name, argument in entries:
        if name in _BUILTINS:
            factories.append((name, functools.partial(_builtin, name), argument))
            continue
        if plugins is None:
            plugins = _plugins()
        entry_point = plugins.get(name)
        if entry_point is None:
            unknown.append(name)
        else:
            factories.append((name, functools.partial(_load_plugin, entry_point), argument))
    if unknown:
        problem = f"unknown sink {', '.join(map(repr, unknown))}: sending nothing"
        warn(f"visivo-telemetry: {problem} (known: {', '.join(sorted(_BUILTINS))})")
        return ResolvedSink(NullSink(), ("null",), problem)

    sinks: list[Sink] = []
    names: list[str] = []
    for name, factory, argument in factories:
        options = SinkOptions(argument=argument, endpoint=endpoint, env=env, state_dir=state_dir)
        try:
            built = factory(options)
        except Exception as error:  # noqa: BLE001 - a broken plugin must not break the host
            built = f"sink {name!r} could not be created: {type(error).__name__}"
        if isinstance(built, str):
            warn(f"visivo-telemetry: {built}: sending nothing")
            return ResolvedSink(NullSink(), ("null",), built)
        sinks.append(built)
        names.append(name)
    sink = sinks[0] if len(sinks) == 1 else FanoutSink(sinks)
    return ResolvedSink(sink, tuple(names))
