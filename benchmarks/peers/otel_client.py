"""OpenTelemetry Python SDK: logs, a BatchLogRecordProcessor and the OTLP/HTTP exporter.

Docs followed: https://opentelemetry-python.readthedocs.io/en/latest/sdk/_logs.html
(``LoggerProvider``, ``add_log_record_processor``, ``get_logger``, ``force_flush``,
``shutdown``), https://opentelemetry-python.readthedocs.io/en/latest/sdk/_logs.export.html
(``BatchLogRecordProcessor``), https://opentelemetry-python.readthedocs.io/en/latest/exporter/otlp/otlp.html
(``OTLPLogExporter(endpoint=...)``, the full ``/v1/logs`` URL) and
https://opentelemetry-python.readthedocs.io/en/latest/sdk/environment_variables.html
(``OTEL_SDK_DISABLED``). Defaults kept: exporter timeout 10 s, batch delay 1 s, queue
2048, export timeout 30 s; the provider shuts down at exit (``shutdown_on_exit=True``).
"""

from __future__ import annotations

from typing import Any

from peers import EVENT, PROPERTIES

NAME = "OpenTelemetry SDK (logs, OTLP/HTTP)"
PACKAGES = ("opentelemetry-sdk", "opentelemetry-exporter-otlp-proto-http", "requests")
IMPORT = (
    "import opentelemetry.sdk._logs, opentelemetry.sdk._logs.export, "
    "opentelemetry.exporter.otlp.proto.http._log_exporter"
)
KILL_SWITCH = "OTEL_SDK_DISABLED=true"

_state: dict[str, Any] = {}


def environment(url: str, disabled: bool) -> dict[str, str]:
    return {"OTEL_SDK_DISABLED": "true"} if disabled else {}


def start(url: str, disabled: bool) -> None:
    from opentelemetry.exporter.otlp.proto.http._log_exporter import OTLPLogExporter
    from opentelemetry.sdk._logs import LoggerProvider
    from opentelemetry.sdk._logs.export import BatchLogRecordProcessor

    provider = LoggerProvider()
    provider.add_log_record_processor(
        BatchLogRecordProcessor(OTLPLogExporter(endpoint=url + "v1/logs"))
    )
    _state["provider"] = provider
    _state["logger"] = provider.get_logger("visivo.benchmark")


def emit() -> None:
    _state["logger"].emit(event_name=EVENT, body=EVENT, attributes=PROPERTIES)


def flush() -> None:
    _state["provider"].force_flush()


def shutdown() -> None:
    _state["provider"].shutdown()
