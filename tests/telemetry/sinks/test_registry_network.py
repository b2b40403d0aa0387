"""The registry, the settings and the first-run notice know the three network sinks."""

from __future__ import annotations

import pytest

from visivo.telemetry import notice
from visivo.telemetry.settings import SINK_ENV, choose_sink
from visivo.telemetry.sinks.network import NetworkSink
from visivo.telemetry.sinks.registry import DEFAULT_SINK, NETWORK_SINKS, FanoutSink, check, resolve


def test_default_sink_is_posthog() -> None:
    """With nothing configured events go to PostHog."""
    assert DEFAULT_SINK == "posthog"
    assert check(None) == (("posthog",), None)


@pytest.mark.parametrize(
    ("spec", "endpoint_source", "chosen"),
    [
        ("", "default", ("posthog", "default")),
        ("", "VISIVO_TELEMETRY_ENDPOINT", ("http", "default (an endpoint is configured)")),
        ("", "global", ("http", "default (an endpoint is configured)")),
        ("otlp,stderr", "global", ("otlp,stderr", SINK_ENV)),
        ("  ", "default", ("posthog", "default")),
    ],
)
def test_choose_sink(spec: str, endpoint_source: str, chosen: tuple[str, str]) -> None:
    """The sink variable wins; else http when an endpoint is configured; else posthog."""
    assert choose_sink(spec, endpoint_source) == chosen


@pytest.mark.parametrize("spec", ["posthog", "otlp", "http", "posthog,otlp", "otlp,stderr"])
def test_network_sinks_resolve_by_name(spec: str) -> None:
    """Each network sink name builds a NetworkSink, alone or in a list."""
    warnings: list[str] = []
    env = {
        "VISIVO_POSTHOG_HOST": "http://127.0.0.1:9",
        "OTEL_EXPORTER_OTLP_ENDPOINT": "http://127.0.0.1:9",
    }
    resolved = resolve(spec, endpoint="", env=env, warn=warnings.append)
    assert warnings == []
    assert resolved.names == tuple(spec.split(","))
    members = resolved.sink.sinks if isinstance(resolved.sink, FanoutSink) else (resolved.sink,)
    network = [m for m in members if isinstance(m, NetworkSink)]
    assert [m.wire_format.name for m in network] == [
        n for n in resolved.names if n in NETWORK_SINKS
    ]


def test_http_without_endpoint_is_inert() -> None:
    """http has no default destination: it resolves, but sends nothing and says why."""
    resolved = resolve("http", endpoint="", env={}, warn=lambda _: None)
    assert isinstance(resolved.sink, NetworkSink)
    assert resolved.sink.problem is not None
    assert "no endpoint configured" in resolved.sink.problem


@pytest.mark.parametrize("names", [("posthog",), ("otlp",), ("http",), ("otlp", "stderr")])
def test_the_notice_is_shown_before_any_network_sink(names: tuple[str, ...]) -> None:
    """Any network sink (posthog, otlp, http) makes the first-run notice due."""
    assert notice.should_show(
        enabled=True, sink_names=names, notice_shown=False, stderr_is_tty=True
    )


@pytest.mark.parametrize("names", [("stdout",), ("file",), ("memory", "null")])
def test_no_notice_for_local_sinks(names: tuple[str, ...]) -> None:
    """Sinks that stay on this machine need no notice."""
    assert not notice.should_show(
        enabled=True, sink_names=names, notice_shown=False, stderr_is_tty=True
    )


def test_the_notice_says_where_events_go() -> None:
    """The notice names PostHog, personless, no IP or GeoIP, and how to send elsewhere."""
    text = " ".join(notice.text().split())
    for words in ("PostHog", "person profile", "IP", "GeoIP", "VISIVO_TELEMETRY_SINK"):
        assert words in text
