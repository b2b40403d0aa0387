"""Resolve ``VISIVO_TELEMETRY_SINK`` to one sink: built-ins by name, plugins by entry point.

A typo never sends: if any name in the list is unknown, the whole list resolves to the
null sink and one warning names the unknown entries.
"""

from __future__ import annotations

import functools
import time
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

    from visivo.telemetry.sinks.plugin import Report

__all__ = [
    "CONSOLE_SINKS",
    "DEFAULT_SINK",
    "ENTRY_POINT_GROUP",
    "NETWORK_SINKS",
    "FanoutSink",
    "ResolvedSink",
    "SinkOptions",
    "check",
    "resolve",
]

ENTRY_POINT_GROUP: Final = "visivo.telemetry.sinks"
# Where events go when nothing is configured (the settings pick ``http`` instead when the
# user configured an endpoint of their own).
DEFAULT_SINK: Final = "posthog"
# Names whose sink sends over the network; the first-run notice and status look at these.
NETWORK_SINKS: Final = frozenset({"posthog", "otlp", "http"})
_BUILTINS: Final = frozenset({"null", "stdout", "stderr", "memory", "file"} | NETWORK_SINKS)
# Names whose sink writes to this process's console; the first-run notice and the exit
# summary look at these.
CONSOLE_SINKS: Final = frozenset({"stdout", "stderr"})


@attrs.frozen
class SinkOptions:
    """What a sink factory may use. Plugins receive it too.

    Attributes:
        argument: the text after ``name:`` in the spec (``file:/tmp/x`` → ``/tmp/x``).
        endpoint: the http endpoint, already chosen from the environment or global file
            (empty when none is configured).
        env: the environment: proxy settings and the posthog and otlp sinks' variables.
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
        deadline = time.monotonic() + timeout
        for sink in self.sinks:
            sink.close(max(deadline - time.monotonic(), 0.0))


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
    # Imports no network code until a sink sends.
    from visivo.telemetry.sinks.network.destinations import build_sink, destination_for

    destination = destination_for(name, endpoint=options.endpoint, env=options.env)
    network_sink: Sink = build_sink(destination, options.env, state_dir=options.state_dir)
    return network_sink


def _plugin(
    name: str, entry_point: metadata.EntryPoint, report: Report | None, options: SinkOptions
) -> Sink:
    """The plugin's sink, kept at arm's length; nothing of the plugin is loaded yet."""
    from visivo.telemetry.sinks.plugin import PluginSink  # only when a plugin is named

    def make() -> Sink:
        factory: SinkFactory = entry_point.load()
        return factory(options)

    return PluginSink(name, make, report)


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
    report: Report | None = None,
    state_dir: Path | None = None,
) -> ResolvedSink:
    """Build the sink for a comma-separated spec such as ``"http,stderr"``.

    An empty or missing spec means the default (``posthog``, or ``http`` when an endpoint
    is configured). Plugins are looked up only for names that are not built in, and
    loaded only when first used, off the host's threads (see ``PluginSink``); ``report``
    gets every exception their code raises. Console sinks go first, so a slow sink never
    holds back debug output.
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
            plugin = functools.partial(_plugin, name, entry_point, report)
            factories.append((name, plugin, argument))
    if unknown:
        problem = f"unknown sink {', '.join(map(repr, unknown))}: sending nothing"
        known = ", ".join(sorted(_BUILTINS | set(plugins or ())))
        warn(f"visivo-telemetry: {problem} (known: {known})")
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
    # Names stay in the order given; the fanout writes to console sinks first.
    sinks = [
        sinks[i] for i in sorted(range(len(names)), key=lambda i: names[i] not in CONSOLE_SINKS)
    ]
    sink = sinks[0] if len(sinks) == 1 else FanoutSink(sinks)
    return ResolvedSink(sink, tuple(names))
