"""Where each network sink sends, from the environment: plain data, no I/O.

The registry's factories and ``visivo-telemetry status`` both read destinations from
here, so what status shows is what the sink does. A set but unusable setting makes the
sink inert (``problem`` says why); it never falls back to another variable or a default.
"""

from __future__ import annotations

import re
import time
from collections.abc import Callable, Mapping
from pathlib import Path
from types import MappingProxyType
from typing import Any, Final
from urllib.parse import unquote, urlunsplit

import attrs

from visivo.telemetry.sinks.network.endpoint import FORBIDDEN_CHARS, check_url, redact
from visivo.telemetry.sinks.network.transport import Compression, NetworkSink

__all__ = [
    "DEFAULT_OTLP_ENDPOINT",
    "DEFAULT_POSTHOG_HOST",
    "DEFAULT_POSTHOG_KEY",
    "NO_ENDPOINT",
    "POSTHOG_HOST_ALIASES",
    "Destination",
    "build_sink",
    "destination_for",
    "http_destination",
    "otlp_destination",
    "parse_otlp_headers",
    "posthog_destination",
]

POSTHOG_HOST_ENV: Final = "VISIVO_POSTHOG_HOST"
POSTHOG_KEY_ENV: Final = "VISIVO_POSTHOG_API_KEY"
DEFAULT_POSTHOG_HOST: Final = "https://us.i.posthog.com"
# Visivo's own PostHog project: a public, write-only ingestion key ("phc_"), the one
# Visivo's PostHog client has always shipped with. It can send events, not read them.
DEFAULT_POSTHOG_KEY: Final = "phc_DaLOz39kD2u4ZFNi6aXQuA7ncmnbAGoE8dLZc2z7Agj"
# PostHog's app and dashboard hosts, which people paste, mapped to its ingestion hosts.
POSTHOG_HOST_ALIASES: Final = MappingProxyType(
    {
        "https://app.posthog.com": "https://us.i.posthog.com",
        "https://us.posthog.com": "https://us.i.posthog.com",
        "https://eu.posthog.com": "https://eu.i.posthog.com",
    }
)
MAX_KEY_LENGTH: Final = 64
PERSONAL_KEY_PREFIX: Final = "phx_"

OTLP_PREFIX: Final = "OTEL_EXPORTER_OTLP_"
OTLP_LOGS_PREFIX: Final = "OTEL_EXPORTER_OTLP_LOGS_"
DEFAULT_OTLP_ENDPOINT: Final = "http://localhost:4318/v1/logs"
OTLP_LOGS_PATH: Final = "v1/logs"
# Headers the transport owns; OTEL_EXPORTER_OTLP_HEADERS cannot set them.
RESERVED_HEADERS: Final = frozenset(
    {
        "content-type",
        "content-encoding",
        "content-length",
        "host",
        "transfer-encoding",
        "connection",
        "user-agent",
    }
)
_TOKEN: Final = re.compile(r"^[!#$%&'*+.^_`|~0-9A-Za-z-]+$")  # RFC 9110 section 5.6.2
MAX_TIMEOUT_S: Final = 1.0
# OTEL_EXPORTER_OTLP_COMPRESSION values; anything else keeps the default (gzip above 1 KiB).
_COMPRESSIONS: Final[Mapping[str, Compression]] = MappingProxyType({"gzip": "gzip", "none": "none"})

NO_ENDPOINT: Final = (
    "no endpoint configured (set VISIVO_TELEMETRY_ENDPOINT, or telemetry_endpoint "
    "in ~/.visivo/config.yml)"
)


@attrs.frozen
class Destination:
    """Where one network sink sends, how, and why not when it cannot.

    ``api_key`` and ``headers`` are secrets of a kind: they are never shown, logged or
    part of :meth:`report`.
    """

    sink: str
    url: str
    source: str
    problem: str | None = None
    headers: Mapping[str, str] = attrs.field(factory=dict, repr=False)
    compression: Compression = "auto"
    timeout: float = MAX_TIMEOUT_S
    ca_certs: str | None = None
    api_key: str = attrs.field(default="", repr=False)

    def report(self) -> dict[str, Any]:
        """What ``status --json`` shows: sink, URL (credentials hidden), source, problem."""
        return {
            "sink": self.sink,
            "url": redact(self.url),
            "source": self.source,
            "problem": self.problem,
        }


def _set(env: Mapping[str, str], name: str) -> str:
    """The trimmed value of ``name``; empty when unset or blank."""
    return env.get(name, "").strip()


def _key_problem(key: str) -> str | None:
    if not key:
        return f"{POSTHOG_KEY_ENV} is blank"
    if len(key) > MAX_KEY_LENGTH:
        return f"{POSTHOG_KEY_ENV} is longer than {MAX_KEY_LENGTH} characters"
    if not key.isascii():
        return f"{POSTHOG_KEY_ENV} must be ASCII"
    if FORBIDDEN_CHARS.search(key):
        return f"{POSTHOG_KEY_ENV} contains whitespace or control characters"
    if key.startswith(PERSONAL_KEY_PREFIX):
        return f"{POSTHOG_KEY_ENV} is a personal key (phx_…), not a project key"
    return None


def posthog_destination(env: Mapping[str, str]) -> Destination:
    """PostHog's batch URL and project key from ``VISIVO_POSTHOG_HOST`` / ``_API_KEY``."""
    host = _set(env, POSTHOG_HOST_ENV)
    source = POSTHOG_HOST_ENV if host else "default"
    host = host or DEFAULT_POSTHOG_HOST
    host = POSTHOG_HOST_ALIASES.get(host.rstrip("/").lower(), host)
    parts, problem = check_url(
        host, what=POSTHOG_HOST_ENV, allow_credentials=False, allow_query=False
    )
    url = host.rstrip("/") + "/batch/"
    key = env[POSTHOG_KEY_ENV].strip() if POSTHOG_KEY_ENV in env else DEFAULT_POSTHOG_KEY
    if parts is not None:
        problem = _key_problem(key) or ""
    return Destination("posthog", url, source, problem or None, api_key=key)


def _first(env: Mapping[str, str], suffix: str) -> tuple[str, str]:
    """The logs-specific variable if set, else the generic one: (name, trimmed value)."""
    for name in (OTLP_LOGS_PREFIX + suffix, OTLP_PREFIX + suffix):
        value = _set(env, name)
        if value:
            return name, value
    return "", ""


def parse_otlp_headers(value: str) -> dict[str, str]:
    """``key=value,key2=value2`` (percent-decoded, trimmed) minus invalid or reserved keys."""
    headers: dict[str, str] = {}
    for entry in value.split(","):
        key, sep, raw = entry.partition("=")
        if not sep:
            continue
        key, text = unquote(key.strip()), unquote(raw.strip())
        if not _TOKEN.match(key) or key.lower() in RESERVED_HEADERS:
            continue
        if re.search(r"[\x00-\x08\x0a-\x1f\x7f]", text):
            continue  # a line break would split the request
        headers[key] = text
    return headers


def _otlp_timeout(env: Mapping[str, str]) -> float:
    for name in (OTLP_LOGS_PREFIX + "TIMEOUT", OTLP_PREFIX + "TIMEOUT"):
        value = _set(env, name)
        if value.isascii() and value.isdigit() and int(value) > 0:
            return min(int(value) / 1000, MAX_TIMEOUT_S)
    return MAX_TIMEOUT_S


def _otlp_url(env: Mapping[str, str]) -> tuple[str, str, str | None]:
    """The logs URL, the variable it came from, and its problem."""
    name = OTLP_LOGS_PREFIX + "ENDPOINT"
    url = _set(env, name)
    if url:
        parts, problem = check_url(url, what=name, allow_credentials=False)
        if parts is not None and not parts.path:
            url = urlunsplit(parts._replace(path="/"))
        return url, name, problem or None
    name = OTLP_PREFIX + "ENDPOINT"
    base = _set(env, name)
    if base:
        parts, problem = check_url(base, what=name, allow_credentials=False)
        if parts is None:
            return base, name, problem
        path = parts.path if parts.path.endswith("/") else parts.path + "/"
        return urlunsplit(parts._replace(path=path + OTLP_LOGS_PATH)), name, None
    return DEFAULT_OTLP_ENDPOINT, "default", None


def otlp_destination(env: Mapping[str, str]) -> Destination:
    """The OTLP/HTTP logs endpoint and options from the standard ``OTEL_EXPORTER_OTLP_*``."""
    url, source, problem = _otlp_url(env)
    _, headers = _first(env, "HEADERS")
    _, compression = _first(env, "COMPRESSION")
    _, ca_certs = _first(env, "CERTIFICATE")
    return Destination(
        "otlp",
        url,
        source,
        problem,
        headers=parse_otlp_headers(headers),
        compression=_COMPRESSIONS.get(compression.lower(), "auto"),
        timeout=_otlp_timeout(env),
        ca_certs=ca_certs or None,
    )


def http_destination(endpoint: str, source: str, problem: str | None = None) -> Destination:
    """The native collector chosen by the settings (env or global file); no default."""
    if problem is None:
        if not endpoint:
            problem = NO_ENDPOINT
        else:
            _, found = check_url(endpoint, what="endpoint", allow_credentials=False)
            problem = found or None
    return Destination("http", endpoint, source, problem)


def destination_for(name: str, *, endpoint: str, env: Mapping[str, str]) -> Destination:
    """The destination of the network sink ``name`` (``posthog``, ``otlp`` or ``http``)."""
    if name == "posthog":
        return posthog_destination(env)
    if name == "otlp":
        return otlp_destination(env)
    if name == "http":
        return http_destination(endpoint, "")
    raise ValueError(f"not a network sink: {name!r}")


def build_sink(
    destination: Destination,
    env: Mapping[str, str],
    *,
    state_dir: Path | None = None,
    clock: Callable[[], float] = time.monotonic,
) -> NetworkSink:
    """The network sink for ``destination``; inert when it has a problem.

    ``env`` is read for proxy settings only; ``state_dir`` holds the delivery state that
    lets processes skip a destination found down (None: keep none); ``clock`` is for
    tests (see NetworkSink).
    """
    gate = None
    if state_dir is not None and destination.problem is None and destination.url:
        from visivo.telemetry.sinks.gate import DeliveryGate

        gate = DeliveryGate(state_dir, destination.url)
    from visivo.telemetry.sinks.network.native import NATIVE
    from visivo.telemetry.sinks.network.otlp import OTLP
    from visivo.telemetry.sinks.network.posthog import posthog_format

    wire_format = {"http": NATIVE, "otlp": OTLP}.get(destination.sink) or posthog_format(
        destination.api_key
    )
    return NetworkSink(
        destination.url,
        wire_format,
        timeout=destination.timeout,
        env=env,
        ca_certs=destination.ca_certs,
        headers=destination.headers,
        compression=destination.compression,
        problem=destination.problem,
        clock=clock,
        gate=gate,
    )
