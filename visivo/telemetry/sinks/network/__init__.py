"""The network sinks (``posthog``, ``otlp``, ``http``): one transport, one encoder per format.

- :mod:`.transport`: urllib3, the wall-clock budget, retry, pause, gzip, body splitting;
- :mod:`.native`, :mod:`.posthog`, :mod:`.otlp`: pure encoders and answer policies;
- :mod:`.endpoint`, :mod:`.proxy`: URL validation and proxy choice (pure);
- :mod:`.destinations`: each sink's URL and options from the environment (pure).

Nothing here imports urllib3 until a sink sends.
"""

from visivo.telemetry.sinks.network.answers import DROP_REASONS, FAIL_REASONS, Verdict
from visivo.telemetry.sinks.network.destinations import Destination, build_sink, destination_for
from visivo.telemetry.sinks.network.sinks import HttpCounters, HttpSink
from visivo.telemetry.sinks.network.transport import NetworkCounters, NetworkSink
from visivo.telemetry.sinks.network.wire import WireFormat

__all__ = [
    "DROP_REASONS",
    "FAIL_REASONS",
    "Destination",
    "HttpCounters",
    "HttpSink",
    "NetworkCounters",
    "NetworkSink",
    "Verdict",
    "WireFormat",
    "build_sink",
    "destination_for",
]
