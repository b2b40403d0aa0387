"""Adapters for benchmarks/compare.py: one short module per telemetry client.

Each adapter uses only its client's documented public API at its defaults and exposes
the same small surface, used by ``child.py`` inside a fresh process:

- ``NAME``, ``PACKAGES`` (distributions whose versions the report prints), ``IMPORT``
  (the statement whose cost over ``python -c pass`` is measured), ``KILL_SWITCH`` (how
  the client is switched off, as its docs say);
- ``environment(url, disabled)``: environment variables the parent sets for the child;
- ``start(url, disabled)``: create the client, pointed at the loopback collector ``url``
  (``http://127.0.0.1:PORT/``) through its documented host/endpoint option;
- ``emit()``: record one ``command_finished`` event;
- ``flush()``: the client's documented flush call; ``shutdown()``: its documented
  shutdown call. An adapter may add ``command(work_s)`` when a host would wrap its work.
"""

from __future__ import annotations

# Run order is shuffled by the harness; this is only the order of tables and charts.
ADAPTERS = ("ours", "floor", "posthog_client", "segment_client", "otel_client")
SMOKE_ADAPTERS = ("ours", "floor")

EVENT = "command_finished"
PROPERTIES = {"command": "run", "duration_ms": 1.0, "success": True}
DISTINCT_ID = "bench-anonymous-install"
