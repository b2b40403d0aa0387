"""The plain WSGI middleware, with hand-written WSGI apps."""

from __future__ import annotations

import threading
import urllib.request
from collections.abc import Callable, Iterable, Iterator
from typing import Any

import pytest
from werkzeug.serving import make_server
from werkzeug.test import EnvironBuilder

from visivo.telemetry import runtime
from visivo.telemetry.integrations.wsgi import TelemetryMiddleware
from visivo.telemetry.testing import CapturedEvents

StartResponse = Callable[..., Any]


def environ(path: str = "/", method: str = "GET", **extra: Any) -> dict[str, Any]:
    """A WSGI environ for one request."""
    return EnvironBuilder(path, method=method, environ_overrides=extra).get_environ()


def list_app(environ: dict[str, Any], start_response: StartResponse) -> Iterable[bytes]:
    """Answers 201 with a complete body."""
    start_response("201 CREATED", [("Content-Type", "text/plain")])
    return [b"made"]


class Stream:
    """A streamed body that can fail before or after its first chunk."""

    def __init__(self, fail_at: int | None = None) -> None:
        self.fail_at = fail_at
        self.closed = False

    def __iter__(self) -> Iterator[bytes]:
        for index, chunk in enumerate((b"a", b"b")):
            if index == self.fail_at:
                raise RuntimeError("stream broke")
            yield chunk

    def close(self) -> None:
        self.closed = True


def requests(events: CapturedEvents) -> list[dict[str, Any]]:
    """The properties of every captured ``request_finished`` envelope."""
    return [envelope["properties"] for envelope in events.named("request_finished")]


def no_start(*args: Any) -> None:
    """A server's ``start_response`` that ignores what it is given."""


class TestTelemetryMiddleware:
    def test_complete_body_is_reported_on_return(self, telemetry_events: CapturedEvents) -> None:
        """A list body is passed through untouched and reported with a templated path."""
        body = [b"made"]

        def app(environ: dict[str, Any], start_response: StartResponse) -> Iterable[bytes]:
            start_response("201 CREATED", [])
            return body

        answer = TelemetryMiddleware(app)(environ("/api/project/42", "POST"), no_start)
        assert answer is body
        (props,) = requests(telemetry_events)
        assert props == {**props, "endpoint": "/api/project/{id}", "method": "POST"}
        assert props["status_code"] == 201

    def test_query_string_and_ids_never_leave(self, telemetry_events: CapturedEvents) -> None:
        """The query string is never read and path data is templated away."""
        env = environ("/api/me@example.com/9f86d081884c7d65", QUERY_STRING="token=hunter2")
        TelemetryMiddleware(list_app)(env, no_start)
        (envelope,) = list(telemetry_events)
        assert envelope["properties"]["endpoint"] == "/api/{id}/{id}"
        assert "hunter2" not in str(envelope)

    def test_stream_is_reported_when_closed(self, telemetry_events: CapturedEvents) -> None:
        """A streamed body is wrapped, passes its chunks on, and is reported on close."""
        stream = Stream()

        def app(environ: dict[str, Any], start_response: StartResponse) -> Iterable[bytes]:
            start_response("200 OK", [])
            return stream

        body = TelemetryMiddleware(app)(environ("/feed"), no_start)
        assert list(body) == [b"a", b"b"]
        assert requests(telemetry_events) == []
        body.close()  # type: ignore[attr-defined]
        assert stream.closed
        assert [p["status_code"] for p in requests(telemetry_events)] == [200]

    @pytest.mark.parametrize(("fail_at", "status"), [(0, 500), (1, 200)])
    def test_stream_failures(
        self, telemetry_events: CapturedEvents, fail_at: int, status: int
    ) -> None:
        """A stream failing before its first chunk is a 500; after it, the status sent."""

        def app(environ: dict[str, Any], start_response: StartResponse) -> Iterable[bytes]:
            start_response("200 OK", [])
            return Stream(fail_at)

        body = TelemetryMiddleware(app)(environ("/feed"), no_start)
        with pytest.raises(RuntimeError, match="stream broke"):
            list(body)
        body.close()  # type: ignore[attr-defined]
        body.close()  # type: ignore[attr-defined]
        assert [p["status_code"] for p in requests(telemetry_events)] == [status]

    def test_app_exception_is_500_and_unchanged(self, telemetry_events: CapturedEvents) -> None:
        """An exception out of the app is reported as 500 and re-raised as the same object."""
        error = ValueError("secret")

        def app(environ: dict[str, Any], start_response: StartResponse) -> Iterable[bytes]:
            raise error

        with pytest.raises(ValueError, match="secret") as raised:
            TelemetryMiddleware(app)(environ("/x"), no_start)
        assert raised.value is error
        assert [p["status_code"] for p in requests(telemetry_events)] == [500]

    def test_start_response_is_passed_through(self, telemetry_events: CapturedEvents) -> None:
        """``start_response`` gets the same arguments and its ``write`` is returned."""
        calls: list[tuple[Any, ...]] = []

        def write(data: bytes) -> None:
            """The server's write callable."""

        def server_start(*args: Any) -> Callable[[bytes], None]:
            calls.append(args)
            return write

        def app(environ: dict[str, Any], start_response: StartResponse) -> Iterable[bytes]:
            assert start_response("200 OK", [("A", "1")]) is write
            start_response("503 SERVICE UNAVAILABLE", [], (None, None, None))
            return []

        TelemetryMiddleware(app)(environ(), server_start)
        assert calls == [
            ("200 OK", [("A", "1")]),
            ("503 SERVICE UNAVAILABLE", [], (None, None, None)),
        ]
        assert [p["status_code"] for p in requests(telemetry_events)] == [503]

    def test_file_wrapper_is_never_wrapped(self, telemetry_events: CapturedEvents) -> None:
        """A ``wsgi.file_wrapper`` body reaches the server as is (``sendfile`` still works)."""

        class FileWrapper(Stream):
            """The server's file wrapper."""

        wrapped = FileWrapper()

        def app(environ: dict[str, Any], start_response: StartResponse) -> Iterable[bytes]:
            start_response("200 OK", [])
            return wrapped

        env = environ("/file", **{"wsgi.file_wrapper": FileWrapper})
        assert TelemetryMiddleware(app)(env, no_start) is wrapped
        assert len(requests(telemetry_events)) == 1

    def test_disabled_telemetry_calls_the_app_directly(self) -> None:
        """With no receivers the app's own body comes back, wrapped in nothing."""
        stream = Stream()

        def app(environ: dict[str, Any], start_response: StartResponse) -> Iterable[bytes]:
            return stream

        assert TelemetryMiddleware(app)(environ(), no_start) is stream


def counts_by_endpoint(events: CapturedEvents) -> dict[str, int]:
    """Requests per endpoint, summed over the merged events."""
    totals: dict[str, int] = {}
    for props in requests(events):
        totals[props["endpoint"]] = totals.get(props["endpoint"], 0) + props["count"]
    return totals


class TestWhichRequests:
    def test_static_files_options_and_head_are_not_reported(
        self, telemetry_events: CapturedEvents
    ) -> None:
        """Static-file paths, OPTIONS and HEAD reach the app but are never reported."""
        calls: list[str] = []

        def app(environ: dict[str, Any], start_response: StartResponse) -> Iterable[bytes]:
            calls.append(environ["PATH_INFO"])
            return list_app(environ, start_response)

        middleware = TelemetryMiddleware(app)
        for path, method in [
            ("/assets/main.js", "GET"),
            ("/favicon.ICO", "GET"),
            ("/data/project.json", "GET"),
            ("/api/project", "OPTIONS"),
            ("/api/project", "HEAD"),
            ("/api/project", "GET"),
            ("/api/v1.2/project", "GET"),
        ]:
            middleware(environ(path, method), no_start)
        assert len(calls) == 7
        assert counts_by_endpoint(telemetry_events) == {"/api/project": 1, "/api/{id}/project": 1}

    def test_include_and_exclude_prefixes(self, telemetry_events: CapturedEvents) -> None:
        """Only paths under an included prefix and under no excluded one are reported."""
        middleware = TelemetryMiddleware(list_app, include=["/api/"], exclude=["/api/poll"])
        for path in ("/", "/dashboard/sales", "/api/project/1", "/api/poll/1", "/api/project/2"):
            middleware(environ(path), no_start)
        assert counts_by_endpoint(telemetry_events) == {"/api/project/{id}": 2}

    def test_predicate_sees_the_raw_path(self, telemetry_events: CapturedEvents) -> None:
        """A predicate gets the raw path (never the query string) and decides."""
        seen: list[str] = []

        def include(path: str) -> bool:
            seen.append(path)
            return path.endswith("/run")

        middleware = TelemetryMiddleware(list_app, include=include)
        middleware(environ("/api/run", QUERY_STRING="token=x"), no_start)
        middleware(environ("/api/other"), no_start)
        assert seen == ["/api/run", "/api/other"]
        assert counts_by_endpoint(telemetry_events) == {"/api/run": 1}

    def test_failing_predicate_is_counted(self, telemetry_events: CapturedEvents) -> None:
        """A predicate that raises is counted; the app still answers, unreported."""

        def broken(path: str) -> bool:
            raise RuntimeError("rule bug")

        body = TelemetryMiddleware(list_app, exclude=broken)(environ("/api/x"), no_start)
        assert body == [b"made"]
        assert requests(telemetry_events) == []
        assert runtime.counters().errors == {"wsgi_rules": 1}


class TestRealServer:
    def test_requests_through_a_real_server_are_merged(
        self, telemetry_events: CapturedEvents
    ) -> None:
        """Requests to a real WSGI server on 127.0.0.1 arrive merged, with exact counts."""
        server = make_server("127.0.0.1", 0, TelemetryMiddleware(list_app), threaded=True)
        thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05})
        thread.start()
        base = f"http://127.0.0.1:{server.server_port}"
        try:
            for index in range(30):
                path = f"/api/project/{index}" if index % 3 else "/static/main.css"
                with urllib.request.urlopen(base + path, timeout=5) as answer:
                    assert answer.status == 201
        finally:
            server.shutdown()
            thread.join(timeout=5)
            server.server_close()
        (props,) = requests(telemetry_events)
        assert props == {
            **props,
            "endpoint": "/api/project/{id}",
            "method": "GET",
            "status_code": 201,
            "count": 20,
        }
        assert props["duration_max_ms"] >= props["duration_median_ms"] >= 0
