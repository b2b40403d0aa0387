"""Merging single requests per window: counts, median and max, bounds."""

from __future__ import annotations

import statistics

import pytest
from hypothesis import given
from hypothesis import strategies as st

from visivo.telemetry.policy.aggregate import RequestWindow, lower_median
from visivo.telemetry.schema import RequestFinished


def one(
    endpoint: str = "/api/x", method: str = "GET", status: int | None = 200, ms: int | None = 5
) -> RequestFinished:
    """A scrubbed single request, as ``scrub_request`` builds it."""
    return RequestFinished(
        endpoint, method, count=1, status_code=status, duration_median_ms=ms, duration_max_ms=ms
    )


class TestLowerMedian:
    @pytest.mark.parametrize(
        ("values", "median"),
        [([7], 7), ([1, 2], 1), ([1, 2, 9], 2), ([3, 1, 2, 10], 2), ([5, 5, 5, 100], 5)],
    )
    def test_known_inputs(self, values: list[int], median: int) -> None:
        """The lower median of small known inputs is exact and is one of the values."""
        histogram: dict[int, int] = {}
        for value in values:
            histogram[value] = histogram.get(value, 0) + 1
        assert lower_median(histogram) == median

    def test_empty(self) -> None:
        """No values have no median."""
        assert lower_median({}) is None

    @given(st.lists(st.integers(0, 10_000), min_size=1, max_size=200))
    def test_matches_statistics(self, values: list[int]) -> None:
        """It equals ``statistics.median_low`` of the values."""
        histogram: dict[int, int] = {}
        for value in values:
            histogram[value] = histogram.get(value, 0) + 1
        assert lower_median(histogram) == statistics.median_low(values)


class TestRequestWindow:
    def test_merges_by_endpoint_method_and_status(self) -> None:
        """Requests sharing endpoint, method and status become one event with their count."""
        window = RequestWindow()
        for ms in (4, 1, 9, 2):
            assert window.add(one(ms=ms), 10.0 + ms)
        window.add(one(status=404, ms=3), 1.0)
        window.add(one(method="POST", ms=30), 2.0)
        window.add(one(endpoint="/api/y", ms=None), 3.0)
        assert window.requests == 7
        merged = window.close()
        assert [m.properties for m in merged] == [
            RequestFinished(
                "/api/x",
                "GET",
                count=4,
                status_code=200,
                duration_median_ms=2,
                duration_max_ms=9,
            ),
            RequestFinished(
                "/api/x", "GET", count=1, status_code=404, duration_median_ms=3, duration_max_ms=3
            ),
            RequestFinished(
                "/api/x",
                "POST",
                count=1,
                status_code=200,
                duration_median_ms=30,
                duration_max_ms=30,
            ),
            RequestFinished("/api/y", "GET", count=1, status_code=200),
        ]
        assert merged[0].timestamp == 19.0  # the last request's time
        assert window.requests == 0
        assert window.close() == []

    def test_stripped_names_are_merged(self) -> None:
        """The stripped keyword names of every merged request are kept, sorted, once each."""
        window = RequestWindow()
        window.add(one(), 0.0, ("user",))
        window.add(one(), 0.0, ("sql", "user"))
        (merged,) = window.close()
        assert merged.stripped == ("sql", "user")

    def test_a_full_window_refuses_and_changes_nothing(self) -> None:
        """Past its entries, ``add`` returns False and the window is as before."""
        window = RequestWindow(max_entries=4)
        assert window.add(one(ms=1), 0.0)  # key + duration: 2 entries
        assert window.add(one(ms=2), 0.0)  # a new duration: 3
        assert window.add(one(ms=2), 0.0)  # nothing new: still 3
        assert window.add(one(ms=3), 0.0)  # 4
        assert not window.add(one(ms=4), 0.0)
        assert not window.add(one(endpoint="/other", ms=None), 0.0)
        assert window.add(one(ms=1), 0.0)  # a known key and duration still fit
        assert window.requests == 5
        (merged,) = window.close()
        assert merged.properties.count == 5
        assert window.add(one(ms=4), 0.0)  # a closed window is empty again

    def test_too_small_a_window_is_refused(self) -> None:
        """A window must hold at least one request with its duration."""
        with pytest.raises(ValueError, match="max_entries"):
            RequestWindow(max_entries=1)

    @given(
        st.lists(
            st.tuples(st.sampled_from(["/a", "/b", "/c"]), st.integers(0, 50)),
            min_size=1,
            max_size=300,
        )
    )
    def test_counts_are_exact(self, requests: list[tuple[str, int]]) -> None:
        """Per endpoint, the count, median and max are exactly those of its requests."""
        window = RequestWindow()
        for endpoint, ms in requests:
            assert window.add(one(endpoint=endpoint, ms=ms), 0.0)
        merged = {m.properties.endpoint: m.properties for m in window.close()}
        for endpoint, properties in merged.items():
            durations = [ms for e, ms in requests if e == endpoint]
            assert properties.count == len(durations)
            assert properties.duration_median_ms == statistics.median_low(durations)
            assert properties.duration_max_ms == max(durations)
        assert sum(p.count for p in merged.values()) == len(requests)
