"""The network sinks through the real runtime: subprocesses, a temporary HOME, loopback."""

from __future__ import annotations

import json
import textwrap
import time
from pathlib import Path

import pytest

from tests.servers import BlackHole, Collector
from tests.support import GUARD_VARS, clean_env, run_python
from tests.telemetry.sinks.wirekit import READERS
from visivo.telemetry.sinks.network.destinations import (
    DEFAULT_POSTHOG_HOST,
    otlp_destination,
    posthog_destination,
)

PATHS = {"/v1/events": "http", "/batch/": "posthog", "/v1/logs": "otlp"}

EMIT = textwrap.dedent(
    """
    import visivo.telemetry as telemetry
    from visivo.events import command_finished, request_finished, track_command
    telemetry.start()
    with track_command("run") as cmd:
        cmd.jobs = 3
    command_finished.send(None, command="compile", duration_ms=12.5, success=False,
                          error=ValueError("no"), object_counts={"chart": 2, "trace": 5})
    request_finished.send(None, method="BREW", status_code=418, duration_ms=3.0,
                          route="/api/project/<int:project_id>", path="/api/project/7")
    """
)


def everywhere(url: str, **extra: str) -> dict[str, str]:
    """Variables pointing all three network sinks at one collector (paths tell them apart)."""
    base = url.rstrip("/")
    return {
        "VISIVO_TELEMETRY_ENDPOINT": base + "/v1/events",
        "VISIVO_POSTHOG_HOST": base,
        "OTEL_EXPORTER_OTLP_ENDPOINT": base,
        **extra,
    }


def test_every_wire_carries_what_the_file_sink_wrote(tmp_path: Path) -> None:
    """One process's events through file: and each wire compare equal field by field."""
    events = tmp_path / "events.jsonl"
    with Collector() as collector:
        spec = f"file:{events},http,posthog,otlp"
        env = clean_env(tmp_path, **everywhere(collector.url, VISIVO_TELEMETRY_SINK=spec))
        done = run_python(EMIT, env=env, cwd=tmp_path)
        assert done.returncode == 0, done.stderr
        # Each sink gets two bodies: the commands, then the window's merged request.
        requests = collector.wait_for_requests(6, timeout=5.0)
    written = [json.loads(line) for line in events.read_text().splitlines()]
    assert len(written) == 3
    assert written[2]["properties"]["method"] == "OTHER"
    by_sink: dict[str, list[object]] = {}
    for request in requests:  # one sink sends from one thread: its bodies arrive in order
        by_sink.setdefault(PATHS[request.path], []).extend(
            READERS[PATHS[request.path]](request.body)
        )
    assert set(by_sink) == {"http", "posthog", "otlp"}
    for name, wires in by_sink.items():
        assert wires == written, name


def test_nothing_from_the_environment_reaches_a_body(tmp_path: Path) -> None:
    """OTEL resource attributes, service name, host and user names never reach any wire."""
    marker = "zqenvironmentmarker"
    with Collector() as collector:
        env = clean_env(
            tmp_path,
            **everywhere(collector.url, VISIVO_TELEMETRY_SINK="http,posthog,otlp"),
            OTEL_RESOURCE_ATTRIBUTES=f"host.name={marker},deployment.environment={marker}",
            OTEL_SERVICE_NAME=marker,
            OTEL_EXPORTER_OTLP_HEADERS=f"x-team={marker}",
            HOSTNAME=marker,
            USER=marker,
            LOGNAME=marker,
        )
        done = run_python(EMIT, env=env, cwd=tmp_path)
        assert done.returncode == 0, done.stderr
        requests = collector.wait_for_requests(3, timeout=5.0)
    for request in requests:
        assert marker not in request.body.decode("utf-8"), request.path
        if request.path == "/v1/logs":
            assert request.headers["x-team"] == marker  # a header the user set, not the body
            (resource_logs,) = request.json()["resourceLogs"]
            assert len(resource_logs["resource"]["attributes"]) == 4


@pytest.mark.parametrize(
    ("source", "extra", "files"),
    [
        ("VISIVO_TELEMETRY_DISABLED", {"VISIVO_TELEMETRY_DISABLED": "1"}, {}),
        ("DO_NOT_TRACK", {"DO_NOT_TRACK": "1"}, {}),
        ("project", {}, {"project.visivo.yml": "defaults:\n  telemetry_enabled: false\n"}),
        ("global", {}, {".visivo/config.yml": "telemetry_enabled: false\n"}),
    ],
)
def test_every_opt_out_silences_every_sink(
    tmp_path: Path, source: str, extra: dict[str, str], files: dict[str, str]
) -> None:
    """Whatever source opts out, no network sink sends anything."""
    home = tmp_path / "home"
    project = tmp_path / "project"
    project.mkdir()
    for name, text in files.items():
        target = (project if name.startswith("project") else home) / name
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_text(text)
    code = EMIT + "assert not telemetry.status().enabled\nprint(telemetry.status().decided_by)\n"
    with Collector() as collector:
        env = clean_env(
            home, **everywhere(collector.url, VISIVO_TELEMETRY_SINK="http,posthog,otlp"), **extra
        )
        done = run_python(code, env=env, cwd=project)
        assert done.returncode == 0, done.stderr
        assert done.stdout.strip() == source
        # A sink answers each request before the child can exit, so none is still coming.
        assert collector.requests == []


EMIT_ONE = (
    "import visivo.telemetry as t\nfrom visivo.events import command_finished\nt.start()\n"
    "command_finished.send(None, command='run', duration_ms=1.0, success=True)\n"
)


def _wall(env: dict[str, str], cwd: Path) -> float:
    start = time.monotonic()
    done = run_python(EMIT_ONE, env=env, cwd=cwd)
    assert done.returncode == 0, done.stderr
    assert done.stderr == ""
    return time.monotonic() - start


@pytest.mark.parametrize("spec", ["posthog", "otlp", "posthog,otlp"])
def test_exit_is_delayed_at_most_about_a_second(tmp_path: Path, spec: str) -> None:
    """With the sinks black-holed, exit comes at most 1.5 s after a disabled run's."""
    baseline = _wall(clean_env(tmp_path, VISIVO_TELEMETRY_DISABLED="1"), tmp_path)
    with BlackHole() as hole:
        env = clean_env(
            tmp_path,
            VISIVO_TELEMETRY_SINK=spec,
            VISIVO_POSTHOG_HOST=hole.url,
            OTEL_EXPORTER_OTLP_ENDPOINT=hole.url,
        )
        elapsed = _wall(env, tmp_path)
        assert hole.accepted >= 1
    assert elapsed - baseline <= 1.5, f"{elapsed:.2f}s vs {baseline:.2f}s"


class TestStatus:
    def status(self, tmp_path: Path, *args: str, **extra: str) -> str:
        """The status command's output, run as a subprocess with a clean HOME."""
        code = "from visivo.telemetry.cli import main\nmain([" + ", ".join(map(repr, args)) + "])"
        done = run_python(
            code, env=clean_env(tmp_path, VISIVO_TELEMETRY_DISABLED="1", **extra), cwd=tmp_path
        )
        assert done.returncode == 0, done.stderr
        return done.stdout

    def test_default_is_posthog_from_default(self, tmp_path: Path) -> None:
        """With nothing configured, events go to PostHog's default host; said even if disabled."""
        out = self.status(tmp_path, "status", VISIVO_POSTHOG_HOST="")
        assert f"PostHog:  {DEFAULT_POSTHOG_HOST}/batch/ (from default)" in out.splitlines()
        assert "Sink:     posthog (from default) (inactive while telemetry is disabled)" in out

    def test_an_endpoint_makes_http_the_default(self, tmp_path: Path) -> None:
        """A configured endpoint means the user's own collector: the http sink."""
        out = self.status(tmp_path, "status", VISIVO_TELEMETRY_ENDPOINT="https://c.example/e")
        lines = out.splitlines()
        assert "Endpoint: https://c.example/e (from VISIVO_TELEMETRY_ENDPOINT)" in lines
        assert not any(line.startswith("PostHog:") for line in lines)

    def test_one_line_per_network_destination(self, tmp_path: Path) -> None:
        """posthog,otlp,stderr: a line for each network sink, none for stderr."""
        out = self.status(
            tmp_path,
            "status",
            VISIVO_TELEMETRY_SINK="posthog,otlp,stderr",
            VISIVO_POSTHOG_HOST="https://eu.posthog.com",
            OTEL_EXPORTER_OTLP_ENDPOINT="",
        )
        lines = out.splitlines()
        assert "PostHog:  https://eu.i.posthog.com/batch/ (from VISIVO_POSTHOG_HOST)" in lines
        assert "OTLP:     http://localhost:4318/v1/logs (from default)" in lines

    def test_problems_end_with_nothing_will_be_sent(self, tmp_path: Path) -> None:
        """An unusable setting is named, with the sink, and says nothing will be sent."""
        out = self.status(
            tmp_path,
            "status",
            VISIVO_TELEMETRY_SINK="posthog,otlp,http",
            VISIVO_POSTHOG_API_KEY="phx_personal",
        )
        lines = out.splitlines()
        assert (
            "PostHog:  posthog sink: VISIVO_POSTHOG_API_KEY is a personal key (phx_…), "
            "not a project key; nothing will be sent"
        ) in lines
        endpoint = next(line for line in lines if line.startswith("Endpoint:"))
        assert endpoint.startswith("Endpoint: http sink: no endpoint configured")
        assert endpoint.endswith("; nothing will be sent")

    def test_secrets_are_never_printed(self, tmp_path: Path) -> None:
        """No API key, header value or URL credentials, from the environment or global file."""
        secrets = {
            "VISIVO_POSTHOG_API_KEY": "phc_s3cretkey",
            "OTEL_EXPORTER_OTLP_HEADERS": "Authorization=Bearer%20s3crettoken",
            "OTEL_EXPORTER_OTLP_LOGS_ENDPOINT": "https://user:s3cretpw@otel.example/v1/logs",
            "VISIVO_TELEMETRY_ENDPOINT": "https://me:s3cretpass@c.example/e",
            "HTTPS_PROXY": "http://proxyuser:s3cretproxy@proxy.example:3128",
            "VISIVO_TELEMETRY_SINK": "posthog,otlp,http",
        }
        for args in (("status",), ("status", "--json")):
            assert "s3cret" not in self.status(tmp_path, *args, **secrets)
        shown = json.loads(self.status(tmp_path, "status", "--json", **secrets))
        assert shown["endpoint"] == "https://***@c.example/e"
        assert shown["destinations"][1]["url"] == "https://***@otel.example/v1/logs"
        global_file = tmp_path / ".visivo" / "config.yml"
        global_file.parent.mkdir(parents=True)
        global_file.write_text("telemetry_endpoint: https://u:s3cretglobal@c.example/e\n")
        for args in (("status",), ("status", "--json")):
            assert "s3cret" not in self.status(tmp_path, *args)

    def test_json_lists_destinations(self, tmp_path: Path) -> None:
        """status --json has destinations: sink, url, source, problem."""
        out = self.status(
            tmp_path, "status", "--json", VISIVO_TELEMETRY_SINK="otlp,posthog", **GUARD_VARS
        )
        report = json.loads(out)
        assert report["destinations"] == [
            otlp_destination(GUARD_VARS).report(),
            posthog_destination(GUARD_VARS).report(),
        ]
        assert set(report["destinations"][0]) == {"sink", "url", "source", "problem"}


def test_tests_never_reach_the_real_posthog_host(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """clean_env drops the developer's sink variables and points the sinks at loopback."""
    leaked = {"VISIVO_POSTHOG_API_KEY": "x", "OTEL_EXPORTER_OTLP_LOGS_ENDPOINT": "http://x"}
    for name, value in leaked.items():
        monkeypatch.setenv(name, value)
    env = clean_env(tmp_path)
    assert not set(leaked) & set(env)
    for destination in (posthog_destination(env), otlp_destination(env)):
        assert destination.url.startswith("http://127.0.0.1:"), destination
