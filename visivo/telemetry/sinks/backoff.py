"""Remembering across processes that a destination is down: the pure rules.

A network sink that failed because the network or the endpoint is down (timeout,
refused or reset connection, DNS, TLS, proxy, 5xx after the retry) makes the next
processes skip the network for a while, so that an offline laptop pays the exit budget
once and not on every command. This module holds the decisions, on plain data:

- :func:`verdict` says what one delivery outcome means for the destination.
- :func:`admit` says whether a process may send now, must skip, or should probe.
- :func:`record` computes the destination's new :class:`Entry` after an outcome.
- :func:`describe` renders an entry for ``status``.

**Schedule.** After the Nth consecutive failed period the destination is skipped for
:data:`SCHEDULE_S` ``[N-1]`` seconds (1 min, 5 min, 30 min, then 2 h for every later
failure). Failures that happen while a backoff is already recorded (several processes
failing at once) do not count again. A ``Retry-After`` pause is carried the same way, for
as long as the server asked (capped by the sink). Any answer from the server, success
or 4xx, resets the destination (only a success counts as "last delivered").

**Probing.** When a skip period ends, the first process to look takes a probe lease of
:data:`LEASE_S` seconds and tries the network; the others keep skipping until it reports
or its lease expires (a process killed mid-probe delays the next probe by one lease).

Times are wall-clock epoch seconds, because several processes share them; an entry whose
times lie further in the future than any rule could set (a clock moved back, a hand-edited
file) is treated as no backoff.
"""

from __future__ import annotations

import enum
import re
from collections.abc import Mapping
from typing import Final

import attrs

__all__ = [
    "DOWN_REASONS",
    "HEALTHY",
    "LEASE_S",
    "MAX_SKIP_S",
    "OFFLINE_BACKOFF",
    "PAUSED",
    "REASON_WORDS",
    "SCHEDULE_S",
    "SUCCESS_REFRESH_S",
    "Action",
    "Entry",
    "Verdict",
    "admit",
    "backoff_s",
    "delivery_status",
    "describe",
    "destination_key",
    "entry_from_json",
    "entry_to_json",
    "explain",
    "record",
    "take_lease",
    "verdict",
]

# Seconds to skip after the 1st, 2nd, 3rd... consecutive failure; the last value repeats.
SCHEDULE_S: Final = (60.0, 300.0, 1800.0, 7200.0)
# How long one process may hold the probe: the sink's one-second budget plus a wide margin.
LEASE_S: Final = 5.0
# No rule skips longer than this (the schedule's cap, or the http sink's 600 s pause cap).
MAX_SKIP_S: Final = max(SCHEDULE_S[-1], 600.0)

# Drop reasons for events not sent because of a recorded state.
OFFLINE_BACKOFF: Final = "offline_backoff"  # the destination failed recently; skipping
PAUSED: Final = "paused"  # the server asked us to wait (Retry-After)

# The sinks' failure reasons that mean "the network or the endpoint is down".
DOWN_REASONS: Final = frozenset({"timeout", "connection", "dns", "tls", "proxy", "http_5xx"})
# Outcome reasons that tried nothing or only touched local problems: they say nothing
# about the destination (the deadline ran out first, a bad endpoint, a sink closed...).
_NEUTRAL_REASONS: Final = frozenset(
    {"deadline", "invalid_endpoint", "invalid_proxy", "paused", "closed", "too_large"}
)
# The words a stored reason may be, with how status says them.
REASON_WORDS: Final = {
    "timeout": "timed out",
    "connection": "connection refused or reset",
    "dns": "host name did not resolve",
    "tls": "TLS handshake failed",
    "proxy": "the proxy failed",
    "http_5xx": "server error",
    "http_429": "the server asked to wait",
}
_HASH_CHARS: Final = 16
# A healthy destination's last success is rewritten at most this often, so that a busy
# machine does not write the file on every command.
SUCCESS_REFRESH_S: Final = 60.0


class Verdict(enum.Enum):
    """What one delivery outcome says about the destination."""

    UP = "up"  # delivered
    REACHABLE = "reachable"  # the server answered but did not take the events (4xx, 3xx...)
    DOWN = "down"  # the network or the endpoint is down
    PAUSE = "pause"  # the server asked us to wait (Retry-After)
    NEUTRAL = "neutral"  # nothing was learned


class Action(enum.Enum):
    """What a process should do before sending to a destination."""

    SEND = "send"  # no backoff: send as usual
    PROBE = "probe"  # the backoff ended: send, holding the probe lease
    SKIP = "skip"  # drop the batch without touching the network


@attrs.frozen
class Entry:
    """What is remembered about one destination: no event, no URL, no identifier.

    Attributes:
        failures: consecutive failed periods (0 when healthy or paused by the server).
        until: epoch seconds until which to skip; 0 when there is nothing to skip.
        reason: the last failure reason word (a key of :data:`REASON_WORDS`), or ``""``.
        last_success: epoch seconds of the last delivery the server accepted, if any.
        lease_until: epoch seconds until which one process holds the probe; 0 if none.
    """

    failures: int = 0
    until: float = 0.0
    reason: str = ""
    last_success: float | None = None
    lease_until: float = 0.0

    @property
    def skip_reason(self) -> str:
        """The drop reason for events skipped because of this entry."""
        return OFFLINE_BACKOFF if self.failures else PAUSED


HEALTHY: Final = Entry()


def destination_key(url: str) -> str:
    """The name a destination is stored under: a truncated sha256 of its URL."""
    import hashlib  # here: loading OpenSSL costs milliseconds, paid on the sending thread

    return hashlib.sha256(url.encode("utf-8")).hexdigest()[:_HASH_CHARS]


def backoff_s(failures: int) -> float:
    """Seconds to skip after ``failures`` consecutive failed periods (``failures >= 1``)."""
    return SCHEDULE_S[min(max(failures, 1), len(SCHEDULE_S)) - 1]


def verdict(kind: str, reason: str = "", pause_s: float = 0.0) -> Verdict:
    """Classify one outcome: ``kind`` is ``sent``, ``dropped`` or ``failed``; ``reason`` a word."""
    if pause_s > 0:
        return Verdict.PAUSE
    if kind == "sent":
        return Verdict.UP
    if reason in DOWN_REASONS and kind == "failed":
        return Verdict.DOWN
    if reason in _NEUTRAL_REASONS or kind not in ("dropped", "failed"):
        return Verdict.NEUTRAL
    return Verdict.REACHABLE  # any other answer (4xx, redirect, 408, 429...)


def _plausible(entry: Entry, now: float) -> Entry:
    """The entry with times no rule could have set (clock moved back, hand edits) cleared."""
    until = entry.until if entry.until <= now + MAX_SKIP_S else 0.0
    lease = entry.lease_until if entry.lease_until <= now + LEASE_S else 0.0
    if (until, lease) == (entry.until, entry.lease_until):
        return entry
    return attrs.evolve(entry, until=until, lease_until=lease)


def admit(entry: Entry | None, now: float) -> Action:
    """Whether to send, probe or skip, given the stored entry (``None``: nothing stored)."""
    if entry is None:
        return Action.SEND
    entry = _plausible(entry, now)
    if not entry.until:
        return Action.SEND
    if now < entry.until or now < entry.lease_until:
        return Action.SKIP
    return Action.PROBE


def take_lease(entry: Entry, now: float) -> Entry:
    """The entry with the probe lease held from ``now``."""
    return attrs.evolve(_plausible(entry, now), lease_until=now + LEASE_S)


def record(
    entry: Entry | None, outcome: Verdict, reason: str, now: float, *, pause_s: float = 0.0
) -> Entry | None:
    """The destination's entry after an outcome; ``None`` means "nothing to write".

    ``reason`` is the sink's reason word for the outcome. A probe's lease is released by
    any outcome.
    """
    current = _plausible(entry if entry is not None else HEALTHY, now)
    released = attrs.evolve(current, lease_until=0.0)
    last = current.last_success
    healthy = not current.until and not current.failures
    if outcome is Verdict.UP:
        if healthy and last is not None and now - last < SUCCESS_REFRESH_S:
            return None
        return Entry(last_success=now)
    if outcome is Verdict.REACHABLE:
        return None if healthy and current == released else Entry(last_success=last)
    if outcome is Verdict.PAUSE:
        word = reason if reason in REASON_WORDS else ""
        return Entry(until=now + min(pause_s, MAX_SKIP_S), reason=word, last_success=last)
    if outcome is Verdict.DOWN:
        if now < current.until:  # another process already recorded this period
            return None if current == released else released
        failures = current.failures + 1
        word = reason if reason in REASON_WORDS else ""
        return Entry(failures, now + backoff_s(failures), word, current.last_success)
    return None if current == released else released


def explain(dropped: Mapping[str, int]) -> str | None:
    """A hint for the exit summary when events were skipped by a recorded backoff."""
    if not dropped.get(OFFLINE_BACKOFF):
        return None
    return (
        f"{OFFLINE_BACKOFF} means the endpoint failed recently and nothing was tried; "
        "`visivo-telemetry status` says until when, `status --retry-now` retries at once"
    )


def _clock_time(epoch_s: float, now: float) -> str:
    import datetime as dt

    when = dt.datetime.fromtimestamp(epoch_s).astimezone()
    today = dt.datetime.fromtimestamp(now).astimezone().date()
    return when.strftime("%H:%M" if when.date() == today else "%Y-%m-%d %H:%M")


def describe(entry: Entry | None, now: float) -> str:
    """One line for ``status``: paused until when and why, or the last success."""
    if entry is None:
        return "nothing recorded yet"
    entry = _plausible(entry, now)
    success = (
        f"last delivered {_clock_time(entry.last_success, now)}"
        if entry.last_success is not None
        else "never delivered"
    )
    if entry.until and now < entry.until:
        if not entry.failures:
            return f"paused until {_clock_time(entry.until, now)} at the server's request"
        plural = "failure" if entry.failures == 1 else "failures"
        why = REASON_WORDS.get(entry.reason)
        cause = f" ({why})" if why else ""
        head = f"paused until {_clock_time(entry.until, now)}"
        return f"{head} after {entry.failures} {plural}{cause}; {success}"
    if entry.until:
        doing = "being retried now" if now < entry.lease_until else "retried by the next command"
        return f"{doing}; {success}"
    return success


def _iso(epoch_s: float | None) -> str | None:
    import datetime as dt

    if epoch_s is None:
        return None
    return dt.datetime.fromtimestamp(epoch_s, dt.UTC).isoformat(timespec="seconds")


def delivery_status(entry: Entry | None, now: float) -> dict[str, object]:
    """The fields ``status --json`` shows for one destination (times in ISO 8601 UTC).

    ``state`` is ``unknown`` (nothing recorded), ``ok``, ``backoff`` (skipping after
    failures), ``paused`` (the server asked to wait), ``probing`` (one process is
    trying again) or ``retry_due`` (the next command tries again).
    """
    if entry is not None:
        entry = _plausible(entry, now)
    if entry is None:
        state = "unknown"
    elif not entry.until:
        state = "ok"
    elif now < entry.until:
        state = "backoff" if entry.failures else "paused"
    else:
        state = "probing" if now < entry.lease_until else "retry_due"
    return {
        "state": state,
        "failures": 0 if entry is None else entry.failures,
        "paused_until": None if entry is None or not entry.until else _iso(entry.until),
        "reason": (entry.reason or None) if entry is not None else None,
        "last_success": None if entry is None else _iso(entry.last_success),
        "summary": describe(entry, now),
    }


_WORD: Final = re.compile(r"^[a-z0-9_]{0,20}$")


def entry_from_json(raw: object) -> Entry | None:
    """An :class:`Entry` from its stored JSON form, or ``None`` when malformed."""
    if not isinstance(raw, dict):
        return None
    failures = raw.get("failures", 0)
    reason = raw.get("reason", "")
    success = raw.get("last_success")
    times = [raw.get("until", 0.0), raw.get("lease_until", 0.0)]
    if success is not None:
        times.append(success)
    numbers_ok = all(
        isinstance(t, int | float) and not isinstance(t, bool) and 0 <= t < 1e11 for t in times
    )
    if not numbers_ok or not isinstance(failures, int) or isinstance(failures, bool):
        return None
    if not 0 <= failures < 1000 or not isinstance(reason, str) or not _WORD.match(reason):
        return None
    return Entry(
        failures,
        float(raw.get("until", 0.0)),
        reason,
        None if success is None else float(success),
        float(raw.get("lease_until", 0.0)),
    )


def entry_to_json(entry: Entry) -> dict[str, object]:
    """The stored JSON form of an entry (round-trips through :func:`entry_from_json`)."""
    return {
        "failures": entry.failures,
        "until": round(entry.until, 3),
        "reason": entry.reason,
        "last_success": None if entry.last_success is None else round(entry.last_success, 3),
        "lease_until": round(entry.lease_until, 3),
    }
