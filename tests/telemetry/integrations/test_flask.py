"""The Flask integration against real Flask: the test client and a real server on 127.0.0.1."""

from __future__ import annotations

import json
import logging
import subprocess
import sys
import textwrap
import threading
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import flask
import pytest
from werkzeug.serving import make_server
from werkzeug.test import EnvironBuilder

from tests.servers import Collector
from tests.support import clean_env, run_python
from visivo.events import request_finished
from visivo.telemetry import runtime
from visivo.telemetry.integrations.flask import instrument
from visivo.telemetry.policy.aggregate import RequestWindow
from visivo.telemetry.policy.routes import UNMATCHED
from visivo.telemetry.sinks.network import HttpSink
from visivo.telemetry.testing import CapturedEvents

REPO = Path(__file__).resolve().parents[3]


class Teapot(Exception):
    """An error the app handles with its own error handler."""


def spin(seconds: float) -> None:
    """Keep the CPU busy for ``seconds`` (a view doing work), without sleeping."""
    deadline = time.perf_counter() + seconds
    while time.perf_counter() < deadline:
        pass


def create_app(*, testing: bool = False) -> flask.Flask:
    """An app factory with a blueprint, handled and unhandled errors, and a stream."""
    app = flask.Flask("demo")
    app.config["TESTING"] = testing
    api = flask.Blueprint("api", "demo", url_prefix="/api")

    @api.get("/project/<int:project_id>")
    def project(project_id: int) -> dict[str, int]:
        return {"id": project_id}

    @api.get("/project/<int:project_id>/trace/<path:name>")
    def trace(project_id: int, name: str) -> str:
        return name

    app.register_blueprint(api)

    @app.get("/")
    def index() -> str:
        return "hello"

    @app.get("/slow")
    def slow() -> str:
        spin(0.03)
        return "done"

    @app.get("/teapot")
    def teapot() -> str:
        raise Teapot

    @app.errorhandler(Teapot)
    def handle_teapot(error: Teapot) -> tuple[str, int]:
        return "short and stout", 418

    @app.get("/forbidden")
    def forbidden() -> str:
        flask.abort(403)

    @app.get("/crash")
    def crash() -> str:
        raise RuntimeError("secret /home/me")

    @app.get("/stream")
    def stream() -> flask.Response:
        def chunks() -> Iterator[str]:
            yield "a"
            spin(0.03)
            yield "b"

        return flask.Response(chunks())

    @app.get("/stream-fails")
    def stream_fails() -> flask.Response:
        def chunks() -> Iterator[str]:
            raise RuntimeError("before the first chunk")
            yield "never"

        return flask.Response(chunks())

    return app


def requests(events: CapturedEvents) -> list[dict[str, Any]]:
    """The properties of every captured ``request_finished`` envelope."""
    return [envelope["properties"] for envelope in events.named("request_finished")]


class TestEndpoint:
    @pytest.mark.parametrize(
        ("url", "endpoint"),
        [
            ("/", "/"),
            ("/api/project/42", "/api/project/{project_id}"),
            ("/api/project/7/trace/a/b.json", "/api/project/{project_id}/trace/{name}"),
        ],
    )
    def test_endpoint_is_the_rule_template(
        self, telemetry_events: CapturedEvents, url: str, endpoint: str
    ) -> None:
        """The endpoint is the matched rule (blueprint prefix included) as a template."""
        client = instrument(create_app()).test_client()
        assert client.get(url).status_code == 200
        (props,) = requests(telemetry_events)
        assert props == {**props, "endpoint": endpoint, "method": "GET", "status_code": 200}

    @pytest.mark.parametrize(
        ("method", "url", "status"),
        [("GET", "/no/such/page", 404), ("POST", "/api/project/1", 405), ("GET", "/api", 404)],
    )
    def test_unmatched_requests(
        self, telemetry_events: CapturedEvents, method: str, url: str, status: int
    ) -> None:
        """A request that matched no rule reports ``{unmatched}`` and the status sent."""
        client = instrument(create_app()).test_client()
        assert client.open(url, method=method).status_code == status
        (props,) = requests(telemetry_events)
        assert (props["endpoint"], props["method"], props["status_code"]) == (
            UNMATCHED,
            method,
            status,
        )

    def test_query_string_never_leaves(self, telemetry_events: CapturedEvents) -> None:
        """Nothing of the query string reaches the envelope."""
        client = instrument(create_app()).test_client()
        client.get("/api/project/42?token=hunter2&email=me@example.com")
        client.get("/missing/42?token=hunter2")
        envelopes = list(telemetry_events)
        wire = json.dumps(envelopes)
        assert "hunter2" not in wire
        assert "example.com" not in wire
        # The random session id and the timestamp may hold "42"; the properties may not.
        properties = json.dumps([envelope["properties"] for envelope in envelopes])
        assert "42" not in properties
        assert len(envelopes) == 2


class TestStatus:
    @pytest.mark.parametrize(("url", "status"), [("/teapot", 418), ("/forbidden", 403)])
    def test_handled_errors_report_the_status_sent(
        self, telemetry_events: CapturedEvents, url: str, status: int
    ) -> None:
        """The status is the one the error handlers produced."""
        response = instrument(create_app()).test_client().get(url)
        assert response.status_code == status
        assert [p["status_code"] for p in requests(telemetry_events)] == [status]

    def test_unhandled_exception_is_500(self, telemetry_events: CapturedEvents) -> None:
        """An unhandled exception answered by Flask's 500 page reports 500."""
        response = instrument(create_app()).test_client().get("/crash")
        assert response.status_code == 500
        (props,) = requests(telemetry_events)
        assert (props["endpoint"], props["status_code"]) == ("/crash", 500)

    def test_propagated_exception_is_500_and_unchanged(
        self, telemetry_events: CapturedEvents
    ) -> None:
        """With exceptions propagated (testing), the same exception escapes and 500 is sent."""
        client = instrument(create_app(testing=True)).test_client()
        with pytest.raises(RuntimeError, match="secret /home/me"):
            client.get("/crash")
        (props,) = requests(telemetry_events)
        assert (props["endpoint"], props["status_code"]) == ("/crash", 500)
        assert "secret" not in json.dumps(list(telemetry_events))


class TestTiming:
    def test_duration_covers_the_view(self, telemetry_events: CapturedEvents) -> None:
        """The duration includes the view's work."""
        instrument(create_app()).test_client().get("/slow")
        (props,) = requests(telemetry_events)
        assert props["duration_max_ms"] >= 30

    def test_stream_is_reported_when_closed(self, telemetry_events: CapturedEvents) -> None:
        """A streamed body is reported once the server closes it, its time included."""
        client = instrument(create_app()).test_client()
        response = client.get("/stream")
        assert requests(telemetry_events) == []
        assert response.get_data() == b"ab"
        response.close()
        (props,) = requests(telemetry_events)
        assert (props["endpoint"], props["status_code"]) == ("/stream", 200)
        assert props["duration_max_ms"] >= 30

    def test_stream_failing_before_first_chunk_is_500(
        self, telemetry_events: CapturedEvents
    ) -> None:
        """A stream that fails before its first chunk reports 500 (what servers send)."""
        client = instrument(create_app()).test_client()
        with pytest.raises(RuntimeError, match="before the first chunk"):
            client.get("/stream-fails", buffered=True)
        assert [p["status_code"] for p in requests(telemetry_events)] == [500]


class TestBehaviour:
    URLS = ("/", "/api/project/3", "/teapot", "/forbidden", "/crash", "/nope", "/stream")

    def exchange(self, app: flask.Flask) -> list[tuple[int, bytes, list[tuple[str, str]]]]:
        """Status, body and headers of a set of requests."""
        client = app.test_client()
        answers = []
        for url in self.URLS:
            with client.get(url) as response:
                answers.append(
                    (response.status_code, response.get_data(), response.headers.to_wsgi_list())
                )
        return answers

    def test_responses_and_logs_are_unchanged(
        self, telemetry_events: CapturedEvents, caplog: pytest.LogCaptureFixture
    ) -> None:
        """An instrumented app answers and logs exactly as the same app uninstrumented."""
        with caplog.at_level(logging.INFO):
            plain = self.exchange(create_app())
        plain_logs = [(r.name, r.levelname, r.getMessage()) for r in caplog.records]
        caplog.clear()
        with caplog.at_level(logging.INFO):
            instrumented = self.exchange(instrument(create_app()))
        assert instrumented == plain
        assert [(r.name, r.levelname, r.getMessage()) for r in caplog.records] == plain_logs
        assert len(requests(telemetry_events)) == len(self.URLS)

    def test_disabled_telemetry_returns_the_apps_own_body(self) -> None:
        """With telemetry off, the middleware hands back the app's own body object."""
        app = create_app()
        inner = app.wsgi_app
        seen: list[Any] = []

        def spy(environ: Any, start_response: Any) -> Any:
            body = inner(environ, start_response)
            seen.append(body)
            return body

        app.wsgi_app = spy  # type: ignore[method-assign]
        instrument(app)
        assert not request_finished.receivers
        body = app.wsgi_app(EnvironBuilder("/stream").get_environ(), lambda *args: None)
        assert body is seen[0]
        body.close()  # type: ignore[attr-defined]

    def test_instrument_is_idempotent(self, telemetry_events: CapturedEvents) -> None:
        """Instrumenting twice still sends one event per request."""
        app = instrument(instrument(create_app()))
        app.test_client().get("/")
        assert len(requests(telemetry_events)) == 1

    def test_failing_receiver_never_reaches_the_app(self, telemetry_events: CapturedEvents) -> None:
        """A receiver that raises is counted; the client still gets the app's answer."""

        def broken(sender: object, **payload: object) -> None:
            raise RuntimeError("receiver bug")

        client = instrument(create_app()).test_client()
        with request_finished.connected_to(broken):
            response = client.get("/api/project/1")
        assert response.json == {"id": 1}
        assert runtime.counters().errors["wsgi"] == 1

    def test_instrument_rejects_other_objects(self) -> None:
        """Only Flask apps can be instrumented; anything else is a ValueError."""
        with pytest.raises(ValueError, match="flask"):
            instrument(object())  # type: ignore[type-var]

    def test_instrumenting_after_the_first_request_is_refused(self) -> None:
        """Once the app has answered, instrument() says so and changes nothing."""
        app = create_app()
        app.test_client().get("/")
        wsgi_app = app.wsgi_app
        with pytest.raises(ValueError, match="before the app handles its first request"):
            instrument(app)
        assert app.wsgi_app == wsgi_app
        assert "visivo_telemetry" not in app.extensions

    def test_import_without_flask_says_what_to_install(self) -> None:
        """Without Flask installed, importing the module explains what to install."""
        code = (
            "import sys; sys.modules['flask'] = None\n"
            "try:\n    import visivo.telemetry.integrations.flask\n"
            "except ImportError as e:\n    print(e)\n"
        )
        result = subprocess.run(
            [sys.executable, "-c", code],
            capture_output=True,
            text=True,
            env={"PYTHONPATH": str(REPO), "PATH": ""},
            timeout=30,
            check=True,
        )
        assert "pip install 'visivo-telemetry[flask]'" in result.stdout


class TestRealServer:
    def test_requests_through_a_real_server(self, telemetry_events: CapturedEvents) -> None:
        """Real HTTP requests to werkzeug's server on 127.0.0.1 are reported as received."""
        server = make_server("127.0.0.1", 0, instrument(create_app()), threaded=False)
        thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05})
        thread.start()
        base = f"http://127.0.0.1:{server.server_port}"
        try:
            with urllib.request.urlopen(f"{base}/api/project/9?secret=1", timeout=5) as answer:
                assert answer.status == 200
            with pytest.raises(urllib.error.HTTPError) as missing:
                urllib.request.urlopen(f"{base}/nope", timeout=5)
            assert missing.value.code == 404
            missing.value.close()
            with urllib.request.urlopen(f"{base}/stream", timeout=5) as answer:
                assert answer.read() == b"ab"
        finally:
            server.shutdown()
            thread.join(timeout=5)
            server.server_close()
        observed = {(p["endpoint"], p["status_code"]) for p in requests(telemetry_events)}
        assert observed == {
            ("/api/project/{project_id}", 200),
            (UNMATCHED, 404),
            ("/stream", 200),
        }


def counts_by_key(events: CapturedEvents) -> dict[tuple[str, str, int], int]:
    """Requests per (endpoint, method, status), summed over the merged events."""
    totals: dict[tuple[str, str, int], int] = {}
    for props in requests(events):
        key = (props["endpoint"], props["method"], props["status_code"])
        totals[key] = totals.get(key, 0) + props["count"]
    return totals


def static_app(root: Path, **rules: Any) -> flask.Flask:
    """An instrumented app with a static folder, a blueprint with its own, and a route."""
    (root / "static").mkdir()
    (root / "static" / "app.css").write_text("body {}")
    (root / "parts").mkdir()
    (root / "parts" / "part.js").write_text("1")
    app = flask.Flask("files", root_path=str(root))
    parts = flask.Blueprint(
        "parts", "files", static_folder=str(root / "parts"), static_url_path="/s", url_prefix="/p"
    )

    @parts.get("/<name>")
    def part(name: str) -> str:
        return name

    app.register_blueprint(parts)

    @app.get("/")
    def index() -> str:
        return "hello"

    return instrument(app, **rules)


def counters_after(sink: Any, urls: list[str]) -> runtime.Counters:
    """The counters once an instrumented app answered ``urls`` into a pipeline to ``sink``."""
    runtime.reset()
    runtime.start_with_sink(sink)
    try:
        client = instrument(create_app()).test_client()
        for url in urls:
            client.get(url)
        assert runtime.flush(5.0)
        return runtime.counters()
    finally:
        runtime.reset()


class TestWhichRequests:
    def test_static_files_are_not_reported(
        self, telemetry_events: CapturedEvents, tmp_path: Path
    ) -> None:
        """The app's and a blueprint's static files are answered but never reported."""
        client = static_app(tmp_path).test_client()
        for url in ("/static/app.css", "/p/s/part.js", "/", "/p/x"):
            with client.get(url) as response:
                assert response.status_code == 200
        assert counts_by_key(telemetry_events) == {
            ("/", "GET", 200): 1,
            ("/p/{name}", "GET", 200): 1,
        }

    def test_options_and_head_are_not_reported(self, telemetry_events: CapturedEvents) -> None:
        """CORS preflights and HEAD probes are answered but never reported."""
        client = instrument(create_app()).test_client()
        assert client.options("/api/project/1").status_code == 200
        assert client.head("/api/project/1").status_code == 200
        assert client.get("/api/project/1").status_code == 200
        assert counts_by_key(telemetry_events) == {("/api/project/{project_id}", "GET", 200): 1}

    def test_include_prefixes(self, telemetry_events: CapturedEvents) -> None:
        """With include=["/api/"] only API rules, and unmatched API paths, are reported."""
        client = instrument(create_app(), include=["/api/"]).test_client()
        for url in ("/", "/slow", "/api/project/3", "/api/nope/1", "/nope", "/api/project/4"):
            client.get(url)
        assert counts_by_key(telemetry_events) == {
            ("/api/project/{project_id}", "GET", 200): 2,
            (UNMATCHED, "GET", 404): 1,
        }

    def test_exclude_predicate_runs_once_per_rule(self, telemetry_events: CapturedEvents) -> None:
        """A predicate sees the URL rule, once per rule however many requests match it."""
        seen: list[str] = []

        def polling(rule: str) -> bool:
            seen.append(rule)
            return rule.startswith("/api/project/<int:project_id>/trace")

        client = instrument(create_app(), exclude=polling).test_client()
        for _ in range(5):
            client.get("/api/project/1/trace/a")
            client.get("/api/project/1")
        assert counts_by_key(telemetry_events) == {("/api/project/{project_id}", "GET", 200): 5}
        assert sorted(seen) == [
            "/api/project/<int:project_id>",
            "/api/project/<int:project_id>/trace/<path:name>",
        ]

    def test_failing_predicate_is_counted(self, telemetry_events: CapturedEvents) -> None:
        """A predicate that raises is counted; the request is answered and not reported."""

        def broken(rule: str) -> bool:
            raise RuntimeError("rule bug")

        client = instrument(create_app(), include=broken).test_client()
        assert client.get("/api/project/1").json == {"id": 1}
        assert requests(telemetry_events) == []
        assert runtime.counters().errors == {"flask_rules": 1}

    @pytest.mark.parametrize("rules", ["/api/", [b"/api/"]])
    def test_rules_must_be_prefix_lists_or_predicates(self, rules: Any) -> None:
        """One string (a classic slip for a list) or non-text prefixes are a ValueError."""
        with pytest.raises(ValueError, match="prefix"):
            instrument(create_app(), include=rules)


class TestMerging:
    def test_a_thousand_requests_become_a_few_events(
        self, telemetry_events: CapturedEvents
    ) -> None:
        """1,000 requests to 3 routes arrive as at most 6 events whose counts are exact."""
        client = instrument(create_app()).test_client()
        urls = ("/", "/api/project/7", "/forbidden")
        for index in range(1000):
            client.get(urls[index % 3])
        assert len(requests(telemetry_events)) <= 6
        assert counts_by_key(telemetry_events) == {
            ("/", "GET", 200): 334,
            ("/api/project/{project_id}", "GET", 200): 333,
            ("/forbidden", "GET", 403): 333,
        }
        counters = runtime.counters()
        assert (counters.enqueued, counters.sent, counters.queued, counters.lost) == (
            1000,
            1000,
            0,
            0,
        )

    def test_counters_count_requests_through_the_http_sink(self) -> None:
        """Through the http sink, sent counts the requests the merged events carry."""
        with Collector() as collector:
            urls = ["/api/project/1" if index % 4 else "/nope" for index in range(40)]
            counters = counters_after(HttpSink(collector.url, env={}), urls)
            batch = [event for request in collector.requests for event in request.json()["batch"]]
        assert counters.enqueued == counters.sent == 40
        assert counters.queued == counters.lost == 0
        assert len(batch) <= 4
        assert sum(event["properties"]["count"] for event in batch) == 40

    def test_nothing_is_lost_at_exit(self, tmp_path: Path) -> None:
        """A server process that answers requests and exits delivers every one of them."""
        events = tmp_path / "events.jsonl"
        code = (
            "import threading, urllib.request\n"
            "from werkzeug.serving import make_server\n"
            "from tests.telemetry.integrations.test_flask import create_app\n"
            "from visivo import telemetry\n"
            "from visivo.telemetry.integrations.flask import instrument\n"
            "telemetry.start()\n"
            "server = make_server('127.0.0.1', 0, instrument(create_app()), threaded=True)\n"
            "threading.Thread(target=server.serve_forever, daemon=True).start()\n"
            "base = f'http://127.0.0.1:{server.server_port}'\n"
            "for index in range(60):\n"
            "    with urllib.request.urlopen(f'{base}/api/project/{index}', timeout=5) as r:\n"
            "        r.read()\n"
            "server.shutdown()\n"
        )
        env = clean_env(tmp_path, VISIVO_TELEMETRY_SINK=f"file:{events}")
        done = run_python(code, env=env, cwd=REPO)
        assert done.returncode == 0, done.stderr
        wire = [json.loads(line) for line in events.read_text("utf-8").splitlines()]
        assert {event["event"] for event in wire} == {"request_finished"}
        assert sum(event["properties"]["count"] for event in wire) == 60
        assert len(wire) <= 2

    def test_a_failing_sink_loses_requests_by_count(self) -> None:
        """When the sink raises, counters say how many requests were lost, by error type."""

        class BrokenSink:
            """A sink whose every send raises."""

            def send(self, batch: object) -> None:
                raise OSError("disk full")

            def close(self, timeout: float) -> None:
                """Nothing to close."""

        urls = ["/" if index % 2 else "/teapot" for index in range(25)]
        counters = counters_after(BrokenSink(), urls)
        assert (counters.enqueued, counters.sent, counters.queued) == (25, 0, 0)
        assert counters.failed == {"OSError": 25}

    def test_a_forked_child_never_sends_its_parents_requests(self, tmp_path: Path) -> None:
        """Requests merged in the parent's open window are sent by the parent alone."""
        code = textwrap.dedent(
            """
            import functools, json, os, time
            from visivo.telemetry import runtime
            from visivo.telemetry import pipeline
            from visivo.telemetry.batcher import Batcher
            pipeline.Batcher = functools.partial(Batcher, interval_s=60, max_batch_size=10)
            import visivo.telemetry as telemetry
            from visivo.events import request_finished
            def request(route):
                request_finished.send(
                    None, method="GET", status_code=200, duration_ms=1.0, route=route
                )
            telemetry.start()
            for _ in range(10):
                request("/api/parent")
            deadline = time.monotonic() + 5  # a full batch is merged, the window still open
            while runtime._pipeline.window.requests < 10 and time.monotonic() < deadline:
                time.sleep(0.01)
            assert runtime._pipeline.window.requests == 10
            pid = os.fork()
            if pid == 0:
                request("/api/child")
                ok = telemetry.flush(5.0)
                counters = telemetry.counters()
                os._exit(0 if ok and (counters.enqueued, counters.sent) == (1, 1) else 3)
            _, status = os.waitpid(pid, 0)
            assert telemetry.flush(5.0)
            counters = telemetry.counters()
            print(json.dumps([os.waitstatus_to_exitcode(status), counters.enqueued, counters.sent]))
            """
        )
        with Collector() as collector:
            env = clean_env(tmp_path, VISIVO_TELEMETRY_ENDPOINT=collector.url)
            done = run_python(code, env=env, cwd=tmp_path)
            assert done.returncode == 0, done.stderr
            received = [event for r in collector.requests for event in r.json()["batch"]]
        assert json.loads(done.stdout) == [0, 10, 10]
        counts = {e["properties"]["endpoint"]: e["properties"]["count"] for e in received}
        assert counts == {"/api/parent": 10, "/api/child": 1}
        assert len(received) == 2

    def test_a_full_window_closes_early_and_loses_nothing(
        self, telemetry_events: CapturedEvents
    ) -> None:
        """Past its bound, the window is sent early and a new one opens: every request counts."""
        pipeline = runtime._pipeline
        assert pipeline is not None
        pipeline.window = RequestWindow(max_entries=4)
        for index in range(30):
            request_finished.send(
                None,
                method="GET",
                status_code=200,
                duration_ms=float(index % 5),
                route=f"/api/r{index % 3}",
            )
        events = requests(telemetry_events)
        assert len(events) > 3  # more than one window was needed
        assert counts_by_key(telemetry_events) == {
            ("/api/r0", "GET", 200): 10,
            ("/api/r1", "GET", 200): 10,
            ("/api/r2", "GET", 200): 10,
        }
        counters = runtime.counters()
        assert (counters.enqueued, counters.sent, counters.queued, counters.lost) == (30, 30, 0, 0)
