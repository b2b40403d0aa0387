"""The pure backoff rules: classifying outcomes, the schedule, admitting and recording."""

from __future__ import annotations

import datetime as dt

import attrs
import pytest
from hypothesis import given
from hypothesis import strategies as st

from visivo.telemetry.sinks.backoff import (
    DOWN_REASONS,
    LEASE_S,
    MAX_SKIP_S,
    OFFLINE_BACKOFF,
    PAUSED,
    SCHEDULE_S,
    SUCCESS_REFRESH_S,
    Action,
    Entry,
    Verdict,
    admit,
    backoff_s,
    delivery_status,
    describe,
    destination_key,
    entry_from_json,
    entry_to_json,
    explain,
    record,
    take_lease,
    verdict,
)
from visivo.telemetry.sinks.network import answers as http

NOW = 1_800_000_000.0


class TestVerdict:
    @pytest.mark.parametrize(
        ("kind", "reason", "pause_s", "expected"),
        [
            ("sent", "", 0.0, Verdict.UP),
            ("failed", http.TIMEOUT, 0.0, Verdict.DOWN),
            ("failed", http.CONNECTION, 0.0, Verdict.DOWN),
            ("failed", http.DNS, 0.0, Verdict.DOWN),
            ("failed", http.TLS, 0.0, Verdict.DOWN),
            ("failed", http.PROXY, 0.0, Verdict.DOWN),
            ("failed", http.HTTP_5XX, 0.0, Verdict.DOWN),
            ("failed", http.HTTP_5XX, 30.0, Verdict.PAUSE),
            ("failed", http.HTTP_429, 30.0, Verdict.PAUSE),
            ("failed", http.HTTP_429, 0.0, Verdict.REACHABLE),
            ("failed", http.HTTP_408, 0.0, Verdict.REACHABLE),
            ("failed", http.HTTP_OTHER, 0.0, Verdict.REACHABLE),
            ("dropped", http.HTTP_4XX, 0.0, Verdict.REACHABLE),
            ("dropped", http.REDIRECT, 0.0, Verdict.REACHABLE),
            ("failed", http.DEADLINE, 0.0, Verdict.NEUTRAL),
            ("dropped", http.INVALID_ENDPOINT, 0.0, Verdict.NEUTRAL),
            ("dropped", http.TOO_LARGE, 0.0, Verdict.NEUTRAL),
            ("dropped", http.PAUSED, 0.0, Verdict.NEUTRAL),
        ],
    )
    def test_outcomes(self, kind: str, reason: str, pause_s: float, expected: Verdict) -> None:
        """Down means no answer from the server; any answer is up or reachable."""
        assert verdict(kind, reason, pause_s) is expected

    def test_down_reasons_are_http_failure_reasons(self) -> None:
        """Every down reason is a failure reason the http sink really counts."""
        assert DOWN_REASONS <= http.FAIL_REASONS


class TestSchedule:
    def test_grows_then_caps(self) -> None:
        """1 min, 5 min, 30 min, then 2 h for every later failure."""
        assert [backoff_s(n) for n in range(1, 7)] == [60, 300, 1800, 7200, 7200, 7200]
        assert SCHEDULE_S[-1] <= MAX_SKIP_S


class TestAdmit:
    def test_nothing_stored_sends(self) -> None:
        """No entry, or a healthy one, sends without probing."""
        assert admit(None, NOW) is Action.SEND
        assert admit(Entry(last_success=NOW - 5), NOW) is Action.SEND

    def test_backoff_skips_then_probes(self) -> None:
        """Inside the backoff a process skips; after it, it probes."""
        entry = Entry(failures=2, until=NOW + 10, reason="timeout")
        assert admit(entry, NOW) is Action.SKIP
        assert admit(entry, NOW + 10) is Action.PROBE

    def test_lease_makes_others_skip_until_it_expires(self) -> None:
        """While one process holds the probe lease the others skip, and no longer."""
        leased = take_lease(Entry(failures=1, until=NOW - 1), NOW)
        assert admit(leased, NOW + LEASE_S - 0.01) is Action.SKIP
        assert admit(leased, NOW + LEASE_S) is Action.PROBE

    def test_times_from_the_far_future_are_ignored(self) -> None:
        """A clock moved back or a hand-edited file never skips longer than any rule could."""
        assert admit(Entry(failures=1, until=NOW + MAX_SKIP_S + 1), NOW) is Action.SEND
        stuck = Entry(failures=1, until=NOW - 1, lease_until=NOW + LEASE_S + 1)
        assert admit(stuck, NOW) is Action.PROBE

    def test_skip_reason(self) -> None:
        """A failure backoff drops as offline_backoff, a server's pause as paused."""
        assert Entry(failures=1, until=NOW + 1).skip_reason == OFFLINE_BACKOFF
        assert Entry(until=NOW + 1).skip_reason == PAUSED


class TestRecord:
    def test_failures_grow_the_backoff(self) -> None:
        """Each down outcome after the previous backoff ended counts one more failure."""
        first = record(None, Verdict.DOWN, "connection", NOW)
        assert first == Entry(failures=1, until=NOW + 60, reason="connection")
        later = NOW + 61
        second = record(first, Verdict.DOWN, "timeout", later)
        assert second == Entry(failures=2, until=later + 300, reason="timeout")

    def test_concurrent_failures_count_once(self) -> None:
        """A failure while a backoff is already recorded (a parallel process) adds nothing."""
        entry = Entry(failures=1, until=NOW + 60, reason="connection")
        assert record(entry, Verdict.DOWN, "timeout", NOW + 1) is None

    def test_success_resets_and_is_remembered(self) -> None:
        """The first answer from the server clears the backoff and notes the time."""
        entry = Entry(failures=3, until=NOW - 1, reason="dns", lease_until=NOW + 2)
        assert record(entry, Verdict.UP, "", NOW) == Entry(last_success=NOW)

    def test_success_is_not_rewritten_every_command(self) -> None:
        """A healthy destination's success time is refreshed only now and then."""
        healthy = Entry(last_success=NOW)
        assert record(healthy, Verdict.UP, "", NOW + SUCCESS_REFRESH_S - 1) is None
        later = NOW + SUCCESS_REFRESH_S
        assert record(healthy, Verdict.UP, "", later) == Entry(last_success=later)

    def test_an_answer_that_refuses_resets_but_is_no_delivery(self) -> None:
        """A 4xx proves the endpoint is up: the backoff ends, the last delivery stays."""
        entry = Entry(failures=2, until=NOW - 1, reason="dns", last_success=NOW - 99)
        assert record(entry, Verdict.REACHABLE, "http_4xx", NOW) == Entry(last_success=NOW - 99)
        assert record(Entry(last_success=NOW - 99), Verdict.REACHABLE, "http_4xx", NOW) is None

    def test_pause_is_carried(self) -> None:
        """A Retry-After pause skips for as long as asked, and is not a failure."""
        before = Entry(failures=2, until=NOW - 1, last_success=NOW - 99)
        entry = record(before, Verdict.PAUSE, "http_429", NOW, pause_s=30)
        assert entry == Entry(until=NOW + 30, reason="http_429", last_success=NOW - 99)

    def test_neutral_outcome_releases_the_lease_only(self) -> None:
        """A probe that learned nothing lets the next process probe; nothing else changes."""
        leased = take_lease(Entry(failures=1, until=NOW - 1, reason="dns"), NOW)
        assert record(leased, Verdict.NEUTRAL, "deadline", NOW) == attrs.evolve(
            leased, lease_until=0.0
        )
        assert record(None, Verdict.NEUTRAL, "deadline", NOW) is None

    def test_unknown_reason_words_are_not_stored(self) -> None:
        """Only known reason words reach the file."""
        assert record(None, Verdict.DOWN, "surprise", NOW) == Entry(1, NOW + 60, "")


class TestStoredForm:
    @given(
        failures=st.integers(0, 999),
        until=st.floats(0, 1e10).map(lambda t: round(t, 3)),
        reason=st.sampled_from(["", "timeout", "dns", "http_5xx"]),
        success=st.none() | st.floats(0, 1e10).map(lambda t: round(t, 3)),
        lease=st.floats(0, 1e10).map(lambda t: round(t, 3)),
    )
    def test_round_trip(
        self, failures: int, until: float, reason: str, success: float | None, lease: float
    ) -> None:
        """What is written reads back as the same entry."""
        entry = Entry(failures, until, reason, success, lease)
        assert entry_from_json(entry_to_json(entry)) == entry

    @pytest.mark.parametrize(
        "raw",
        [
            None,
            [],
            {"failures": "3"},
            {"failures": True},
            {"failures": -1},
            {"until": float("nan")},
            {"until": "soon"},
            {"reason": "https://collector.example/secret"},
            {"last_success": [1]},
        ],
    )
    def test_malformed_entries_are_rejected(self, raw: object) -> None:
        """A malformed entry reads as nothing, never as a strange backoff."""
        assert entry_from_json(raw) is None

    def test_stored_form_holds_no_url(self) -> None:
        """A destination is named by a short hash, never by its URL."""
        key = destination_key("https://collector.example/v1/events")
        assert len(key) == 16
        assert all(c in "0123456789abcdef" for c in key)
        assert set(entry_to_json(Entry())) == {
            "failures",
            "until",
            "reason",
            "last_success",
            "lease_until",
        }


class TestWords:
    def test_describe_backoff(self) -> None:
        """Status says until when, after how many failures, and why."""
        until = dt.datetime(2027, 1, 15, 14, 32).timestamp()
        now = until - 100
        entry = Entry(failures=3, until=until, reason="connection")
        assert describe(entry, now) == (
            "paused until 14:32 after 3 failures (connection refused or reset); never delivered"
        )

    def test_describe_other_states(self) -> None:
        """A server's pause, a pending retry, a running probe and a success read plainly."""
        noon = dt.datetime(2027, 1, 15, 12, 0).timestamp()
        assert describe(None, noon) == "nothing recorded yet"
        assert describe(Entry(last_success=noon - 60), noon) == "last delivered 11:59"
        paused = Entry(until=noon + 120, reason="http_429", last_success=noon)
        assert describe(paused, noon) == "paused until 12:02 at the server's request"
        expired = Entry(failures=1, until=noon - 1, last_success=noon - 86400)
        assert describe(expired, noon) == (
            "retried by the next command; last delivered 2027-01-14 12:00"
        )
        probing = take_lease(expired, noon)
        assert describe(probing, noon).startswith("being retried now")

    def test_explain_only_for_backoff(self) -> None:
        """The exit summary gets a hint only when events were skipped by a backoff."""
        assert explain({"timeout": 1}) is None
        hint = explain({OFFLINE_BACKOFF: 2})
        assert hint is not None
        assert "--retry-now" in hint

    @pytest.mark.parametrize(
        ("entry", "state"),
        [
            (None, "unknown"),
            (Entry(last_success=NOW - 1), "ok"),
            (Entry(failures=2, until=NOW + 1, reason="tls"), "backoff"),
            (Entry(until=NOW + 1, reason="http_429"), "paused"),
            (Entry(failures=1, until=NOW - 1, lease_until=NOW + 1), "probing"),
            (Entry(failures=1, until=NOW - 1), "retry_due"),
        ],
    )
    def test_status_fields(self, entry: Entry | None, state: str) -> None:
        """status --json names the state and gives times in ISO 8601 UTC."""
        fields = delivery_status(entry, NOW)
        assert fields["state"] == state
        assert fields["summary"] == describe(entry, NOW)
        if entry is not None and entry.until:
            assert fields["paused_until"] == dt.datetime.fromtimestamp(
                entry.until, dt.UTC
            ).isoformat(timespec="seconds")
