"""Field stripping: only schema fields, validated, ever come out of the scrubbers."""

from __future__ import annotations

import math
from typing import Any

import attrs
import pytest
from hypothesis import given
from hypothesis import strategies as st

from visivo.telemetry.limits import INVALID, MAX_COUNT, MAX_OBJECT_TYPES
from visivo.telemetry.policy.routes import UNMATCHED
from visivo.telemetry.policy.scrub import (
    COMMAND_KEYWORDS,
    REQUEST_KEYWORDS,
    scrub_command,
    scrub_request,
)
from visivo.telemetry.schema import (
    CommandFinished,
    RequestFinished,
    to_wire,
)


def command(**payload: Any) -> CommandFinished:
    result = scrub_command({"command": "run", **payload}).properties
    assert isinstance(result, CommandFinished)
    return result


class TestScrubCommand:
    def test_error_keeps_only_the_class_name(self) -> None:
        """ValueError('secret') becomes error_type 'ValueError' and the message is gone."""
        props = command(error=ValueError("secret"), success=False)
        assert props.error_type == "ValueError"
        assert "secret" not in repr(props)

    def test_error_class_is_accepted(self) -> None:
        """An exception class (not instance) gives its name too."""
        assert command(error=KeyError).error_type == "KeyError"

    @pytest.mark.parametrize("error", ["ValueError: secret", 42, object()])
    def test_error_that_is_not_an_exception_is_dropped(self, error: object) -> None:
        """A string or other object passed as error never becomes error_type."""
        assert command(error=error).error_type is None

    def test_run_time_class_reports_its_written_base(self) -> None:
        """A class made at run time (its name may be data) reports the base it derives from."""
        odd = type("bad name/with path", (KeyError,), {})
        named_after_data = type("CustomersTableError", (ValueError,), {})
        assert command(error=odd()).error_type == "KeyError"
        assert command(error=named_after_data()).error_type == "ValueError"

    @pytest.mark.parametrize(
        ("name", "expected"),
        [
            ("run", "run"),
            ("db migrate", "db migrate"),
            ("Run", "run"),
            (" compile ", "compile"),
            ("x" * 1000, INVALID),
            ("/home/me/project", INVALID),
            ("run; rm -rf", INVALID),
            ("a b c d e", INVALID),
            ("", INVALID),
            (None, INVALID),
            (12, INVALID),
        ],
    )
    def test_command_names(self, name: object, expected: str) -> None:
        """Command names must be up to four short lowercase words, else {invalid}."""
        assert scrub_command({"command": name}).properties == CommandFinished(command=expected)

    @pytest.mark.parametrize(
        ("value", "expected"),
        [
            (1834.4, 1834),
            (0, 0),
            (0.6, 1),
            (-1.0, None),
            (math.nan, None),
            (math.inf, None),
            (-math.inf, None),
            (True, None),
            ("12", None),
            (1e30, None),
        ],
    )
    def test_durations(self, value: object, expected: int | None) -> None:
        """Durations must be finite, non-negative numbers; others drop the field."""
        assert command(duration_ms=value).duration_ms == expected

    @pytest.mark.parametrize(
        ("value", "expected"),
        [
            (12, 12),
            (0, 0),
            (True, None),
            (False, None),
            (-1, None),
            (1.5, None),
            ("3", None),
            (MAX_COUNT + 1, None),
        ],
    )
    def test_jobs(self, value: object, expected: int | None) -> None:
        """jobs must be a real int in range; True is not a count."""
        assert command(jobs=value).jobs == expected

    def test_object_counts_keep_only_valid_entries(self) -> None:
        """Bad keys and bad values are dropped one by one; good entries stay."""
        counts = {
            "chart": 4,
            "trace": 0,
            "Bad Key": 1,
            "/etc/passwd": 2,
            "table": -1,
            "model": True,
            "source": 2.5,
            7: 1,
            "x" * 40: 1,
        }
        assert command(object_counts=counts).object_counts == {"chart": 4, "trace": 0}

    @pytest.mark.parametrize("value", [{"Bad": 1}, {}, "chart=3", [("chart", 3)], None])
    def test_object_counts_without_valid_entries_are_omitted(self, value: object) -> None:
        """A non-mapping or a mapping with nothing valid leaves the field out."""
        assert command(object_counts=value).object_counts is None

    def test_object_counts_are_capped(self) -> None:
        """At most MAX_OBJECT_TYPES entries are kept."""
        counts = {f"type_{i}": i for i in range(MAX_OBJECT_TYPES * 2)}
        result = command(object_counts=counts).object_counts
        assert result is not None
        assert len(result) == MAX_OBJECT_TYPES

    def test_success_must_be_a_bool(self) -> None:
        """success other than True/False is dropped."""
        assert command(success=1).success is None
        assert command(success=False).success is False

    def test_unknown_keywords_are_stripped_and_named(self) -> None:
        """Keywords outside the allow-list are dropped; only their names are reported."""
        payload = {"command": "run", "sql": "select secret", "path": "/home/me", "jobs": 2}
        result = scrub_command(payload)
        assert result.stripped == ("path", "sql")
        assert "select secret" not in repr(result)
        assert payload["sql"] == "select secret"  # the caller's mapping is untouched


class TestScrubRequest:
    def test_route_template_wins_over_path(self) -> None:
        """With a route, the path is ignored and the rule is templated."""
        result = scrub_request(
            {
                "method": "get",
                "status_code": 200,
                "duration_ms": 3.2,
                "route": "/api/project/<int:project_id>",
                "path": "/api/project/42?q=secret",
            }
        ).properties
        assert result == RequestFinished(
            "/api/project/{project_id}",
            "GET",
            status_code=200,
            count=1,
            duration_median_ms=3,
            duration_max_ms=3,
        )

    def test_path_is_templated_without_query(self) -> None:
        """Without a route the raw path is templated and the query string dropped."""
        result = scrub_request({"method": "POST", "path": "/api/project/jane@x.io?token=s3"})
        assert result.properties == RequestFinished("/api/project/{id}", "POST", count=1)

    def test_unmatched(self) -> None:
        """The {unmatched} marker passes through; no route and no path is unmatched too."""
        assert scrub_request({"route": UNMATCHED, "path": "/x/1"}).properties.endpoint == UNMATCHED
        assert scrub_request({"method": "GET"}).properties.endpoint == UNMATCHED

    @pytest.mark.parametrize("status", [99, 600, True, "200", 200.0])
    def test_bad_status_dropped(self, status: object) -> None:
        """Status codes outside 100-599 or not ints are dropped."""
        assert scrub_request({"path": "/", "status_code": status}).properties.status_code is None

    def test_unknown_keywords(self) -> None:
        """Unknown request keywords are stripped and named."""
        result = scrub_request({"path": "/", "remote_addr": "10.0.0.1", "user": "jane"})
        assert result.stripped == ("remote_addr", "user")


_anything = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats() | st.text(max_size=50),
    lambda inner: (
        st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=8), inner, max_size=3)
    ),
    max_leaves=8,
)


@given(st.dictionaries(st.sampled_from(sorted(COMMAND_KEYWORDS | {"extra", "sql"})), _anything))
def test_command_output_is_always_valid(payload: dict[str, Any]) -> None:
    """Whatever the payload, the wire properties hold only schema fields of the right types."""
    props = to_wire_properties(scrub_command(payload).properties)
    assert set(props) <= set(attrs.fields_dict(CommandFinished))
    assert isinstance(props["command"], str)
    for key in ("duration_ms", "jobs"):
        if key in props:
            assert type(props[key]) is int
            assert props[key] >= 0


@given(st.dictionaries(st.sampled_from(sorted(REQUEST_KEYWORDS | {"extra"})), _anything))
def test_request_output_is_always_valid(payload: dict[str, Any]) -> None:
    """Whatever the payload, the endpoint is a template and the method is normalised."""
    props = to_wire_properties(scrub_request(payload).properties)
    assert props["endpoint"].startswith(("/", "{"))
    assert set(props) <= set(attrs.fields_dict(RequestFinished))
    assert props["count"] == 1
    assert props.get("duration_median_ms") == props.get("duration_max_ms")


def to_wire_properties(properties: CommandFinished | RequestFinished) -> dict[str, Any]:
    from visivo.telemetry.schema import Envelope, Metadata

    wire = to_wire(Envelope(properties, 0.0, Metadata("s", "v", "3.11.7", "linux")))
    result: dict[str, Any] = wire["properties"]
    return result


def _class_with_module(module: object) -> type[Exception]:
    """An exception class whose ``__module__`` is ``module`` (set after creation)."""

    class Odd(Exception):
        pass

    Odd.__module__ = module  # type: ignore[assignment]
    Odd.__qualname__ = "Odd"
    return Odd


class TestEveryFieldFailsAlone:
    def test_huge_duration_drops_only_that_field(self) -> None:
        """duration_ms=10**400 leaves duration out; the other fields are kept."""
        result = scrub_command({"command": "run", "duration_ms": 10**400, "jobs": 3})
        assert result.properties == CommandFinished("run", jobs=3)
        assert scrub_request({"path": "/", "duration_ms": -(10**400)}).properties.endpoint == "/"

    def test_unhashable_module_drops_only_error_type(self) -> None:
        """A class with an unhashable __module__ loses error_type (reported), not the event."""
        error = _class_with_module(["not", "hashable"])("secret")
        result = scrub_command({"command": "run", "error": error, "success": False, "jobs": 1})
        assert result.properties == CommandFinished("run", success=False, jobs=1)
        assert result.failed == ("error_type",)

    def test_str_subclass_methods_never_run(self) -> None:
        """A str subclass whose methods raise is read as the plain string it holds."""

        class Exploding(str):
            def strip(self, *args: object) -> str:
                raise RuntimeError("boom")

            def __hash__(self) -> int:
                raise RuntimeError("boom")

        result = scrub_command({"command": Exploding("run"), "jobs": 4})
        assert result.properties == CommandFinished("run", jobs=4)
        assert result.failed == ()
