"""The native format (sink ``http``): the envelopes as they are, for a collector of your own.

Body: ``{"batch": [<envelope wire form>, ...], "sent_at": "<ISO 8601 UTC>"}``.
"""

from __future__ import annotations

import functools
from collections.abc import Sequence
from typing import Final

from visivo.telemetry.sinks.formats import encode_json, join_body
from visivo.telemetry.sinks.network.answers import Verdict, judge_status
from visivo.telemetry.sinks.network.wire import Wire, WireFormat

__all__ = ["NATIVE", "RETRIED_STATUSES", "encode_event", "join", "judge"]

# Worth one more try: 408 and 429 (RFC 9110 section 15.5.9, RFC 6585 section 4), any 5xx.
RETRIED_STATUSES: Final = frozenset({408, 429, *range(500, 600)})


def encode_event(wire: Wire, uuid: str) -> bytes:
    """The envelope's wire form as compact UTF-8 JSON (``uuid`` is not used)."""
    return encode_json(wire)


def join(encoded: Sequence[bytes], first: Wire, sent_at: str) -> bytes:
    """``{"batch": [...], "sent_at": ...}`` from events encoded once each."""
    return join_body(encoded, sent_at)


judge: Final = functools.partial(judge_status, retried=RETRIED_STATUSES)


def _judge(status: int, retry_after_s: float | None, body: bytes) -> Verdict:
    return judge(status, retry_after_s)


NATIVE: Final = WireFormat("http", encode_event, join, _judge)
