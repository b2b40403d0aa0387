"""What an answer means: reasons, verdicts, ``Retry-After``, and the status rules (pure).

Each wire format has a small answer policy, ``(status, retry_after_s, body) -> Verdict``;
the ones here are shared. Reasons are the keys of the sinks' ``events_dropped`` and
``events_failed`` counters.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Collection
from typing import Final, Literal

import attrs

__all__ = [
    "DROP_REASONS",
    "FAIL_REASONS",
    "MAX_PAUSE_S",
    "SENT",
    "AnswerPolicy",
    "Verdict",
    "judge_status",
    "parse_retry_after",
]

# A server may ask us to back off, but never for longer than this.
MAX_PAUSE_S: Final = 600.0

# Dropped: deliberately not sent, or refused by the collector for good.
INVALID_ENDPOINT: Final = "invalid_endpoint"  # the URL is unusable (or none is configured)
INVALID_SETTINGS: Final = "invalid_settings"  # another setting is (a personal PostHog key)
INVALID_PROXY: Final = "invalid_proxy"  # the proxy from the environment is unusable
PAUSED: Final = "paused"  # a Retry-After pause was running
CLOSED: Final = "closed"  # send after close
TOO_LARGE: Final = "too_large"  # one event alone exceeds the body limit
REDIRECT: Final = "redirect"  # 3xx: redirects are never followed
HTTP_4XX: Final = "http_4xx"  # a 4xx the format does not retry
REJECTED: Final = "rejected"  # accepted request, but the collector refused these records
DROP_REASONS: Final = frozenset(
    {
        INVALID_ENDPOINT,
        INVALID_SETTINGS,
        INVALID_PROXY,
        PAUSED,
        CLOSED,
        TOO_LARGE,
        REDIRECT,
        HTTP_4XX,
        REJECTED,
    }
)

# Failed: tried (or ran out of time) and could not deliver.
HTTP_5XX: Final = "http_5xx"
HTTP_408: Final = "http_408"
HTTP_429: Final = "http_429"
HTTP_OTHER: Final = "http_other"  # 1xx or a status outside 100-599
TIMEOUT: Final = "timeout"  # connect, TLS handshake or the exchange ran out of time
CONNECTION: Final = "connection"  # refused, reset, closed early, malformed response
DNS: Final = "dns"  # the host name did not resolve
TLS: Final = "tls"  # certificate or handshake failure
PROXY: Final = "proxy"  # the proxy refused or failed the request
DEADLINE: Final = "deadline"  # the per-call deadline ran out before this request
INTERNAL: Final = "internal_error"  # a bug of ours (an encoder raised); never retried
FAIL_REASONS: Final = frozenset(
    {
        HTTP_5XX,
        HTTP_408,
        HTTP_429,
        HTTP_OTHER,
        TIMEOUT,
        CONNECTION,
        DNS,
        TLS,
        PROXY,
        DEADLINE,
        INTERNAL,
    }
)

# Statuses whose Retry-After we honour by pausing (RFC 9110 section 10.2.3).
PAUSE_STATUSES: Final = frozenset({429, 503})


@attrs.frozen
class Verdict:
    """What became of one request body.

    Attributes:
        kind: ``sent``, ``dropped`` (never retried) or ``failed``.
        reason: the counter key for dropped or failed events.
        retry: whether one more attempt may help.
        pause_s: stop sending for this long (a ``Retry-After`` the policy honoured).
        rejected: for ``sent``, how many of the body's events the collector refused.
    """

    kind: Literal["sent", "dropped", "failed"]
    reason: str = ""
    retry: bool = False
    pause_s: float = 0.0
    rejected: int = 0


SENT: Final = Verdict("sent")

AnswerPolicy = Callable[[int, float | None, bytes], Verdict]
"""``(status, retry_after_s, body) -> Verdict``; ``body`` is at most 64 KiB of the answer."""


def parse_retry_after(value: str, now_epoch_s: float) -> float | None:
    """Seconds to wait from a ``Retry-After`` value (delay-seconds or HTTP-date).

    ``None`` when the value is neither; a date in the past gives ``0.0``. Not capped.
    Only ASCII digits count: ``str.isdigit`` also accepts ``²`` or ``٣``, which
    ``float`` then refuses.
    """
    value = value.strip()
    if value.isascii() and value.isdigit():
        return float(value)
    # Imported here, for the rare HTTP-date answer: email.utils costs milliseconds, and
    # this module is loaded by start() on the host's thread.
    from email.utils import parsedate_to_datetime

    try:
        when = parsedate_to_datetime(value)
    except (TypeError, ValueError, IndexError, OverflowError):
        return None
    if when.tzinfo is None:  # RFC 9110 dates are GMT; "-0000" parses as naive
        return None
    return max(0.0, when.timestamp() - now_epoch_s)


def retry_after_seconds(value: str | None) -> float | None:
    """:func:`parse_retry_after` against the current time; ``None`` when absent."""
    return None if value is None else parse_retry_after(value, time.time())


def _failure(status: int) -> str:
    if status == 408:
        return HTTP_408
    if status == 429:
        return HTTP_429
    return HTTP_4XX if status < 500 else HTTP_5XX


def judge_status(status: int, retry_after_s: float | None, *, retried: Collection[int]) -> Verdict:
    """The common rules; ``retried`` lists the 4xx/5xx statuses worth a second try.

    2xx is sent; ``429``/``503`` with a positive ``Retry-After`` pause (capped at
    :data:`MAX_PAUSE_S`); 3xx is dropped (redirects are not followed); a status in
    ``retried`` failed and may be retried; any other 4xx or 5xx is dropped.
    """
    if 200 <= status < 300:
        return SENT
    if status in PAUSE_STATUSES and retry_after_s:
        return Verdict("failed", _failure(status), pause_s=min(retry_after_s, MAX_PAUSE_S))
    if 300 <= status < 400:
        return Verdict("dropped", REDIRECT)
    if status in retried:
        return Verdict("failed", _failure(status), retry=True)
    if 400 <= status < 600:
        return Verdict("dropped", _failure(status))
    return Verdict("failed", HTTP_OTHER)
