"""The host's version in events: given, else the installed `visivo` distribution's, else ours."""

from __future__ import annotations

import json
import os
import textwrap
from pathlib import Path

import pytest

from tests.support import clean_env, run_cli, run_python
from visivo.events import track_command
from visivo.telemetry import runtime
from visivo.telemetry._version import __version__
from visivo.telemetry.host import (
    HOST_DISTRIBUTION,
    VersionChoice,
    choose_version,
    keep_telemetry_settings,
)
from visivo.telemetry.policy.settings import ENDPOINT_KEY, GLOBAL_KEY, NOTICE_KEY
from visivo.telemetry.sinks.memory import MemorySink


def not_installed() -> None:
    return None


def broken() -> str:
    raise OSError("metadata unreadable")


class TestChooseVersion:
    @pytest.mark.parametrize(
        ("explicit", "installed", "expected"),
        [
            ("2.2.1", lambda: "9.9.9", VersionChoice("2.2.1", "host_version")),
            (None, lambda: "2.2.1", VersionChoice("2.2.1", "distribution")),
            (None, not_installed, VersionChoice(__version__, "visivo-telemetry")),
        ],
    )
    def test_order(self, explicit: object, installed: object, expected: VersionChoice) -> None:
        """The host's value first, then the distribution's, then ours; no problem said."""
        assert choose_version(explicit, installed) == expected  # type: ignore[arg-type]

    @pytest.mark.parametrize("explicit", ["dev build", "/home/me/visivo", "v2", "1" * 40, 2.2, ""])
    def test_unusable_host_value_falls_back(self, explicit: object) -> None:
        """A host value that is not a short version is never sent; the problem is kept."""
        choice = choose_version(explicit, lambda: "2.2.1")
        assert (choice.version, choice.source) == ("2.2.1", "distribution")
        (problem,) = choice.problems
        assert "host_version" in problem

    def test_broken_metadata_falls_back_to_ours(self) -> None:
        """Metadata that cannot be read gives this package's version and a problem."""
        choice = choose_version(None, broken)
        assert (choice.version, choice.source) == (__version__, "visivo-telemetry")
        (problem,) = choice.problems
        assert problem.startswith(f"the {HOST_DISTRIBUTION} distribution's version could not")
        assert problem.endswith("OSError: metadata unreadable")

    @pytest.mark.parametrize("found", ["not a version", "/opt/visivo", 3])
    def test_bad_distribution_version(self, found: object) -> None:
        """A distribution version that fails the schema's pattern is replaced by ours."""
        choice = choose_version(None, lambda: found)
        assert choice.version == __version__
        assert len(choice.problems) == 1


def fake_distribution(site: Path, version_file: str | None) -> Path:
    """A `visivo` dist-info in ``site``: METADATA with ``version_file``, or a directory."""
    info = site / f"{HOST_DISTRIBUTION}-2.2.1.dist-info"
    info.mkdir(parents=True)
    if version_file is None:
        (info / "METADATA").mkdir()
    else:
        (info / "METADATA").write_text(
            f"Metadata-Version: 2.1\nName: {HOST_DISTRIBUTION}\n{version_file}"
        )
    return site


SEND = textwrap.dedent(
    """
    import json
    import visivo.telemetry as telemetry
    from visivo.events import track_command
    assert telemetry.start(**kwargs).enabled
    with track_command("run"):
        pass
    telemetry.shutdown()
    print(json.dumps(dict(telemetry.counters().errors)))
    """
)


def send_one(tmp_path: Path, site: Path | None, **kwargs: str) -> tuple[dict[str, int], str]:
    """Run SEND with ``site`` on the path; return its error counts and the sent version."""
    events = tmp_path / "events.jsonl"
    env = clean_env(tmp_path, VISIVO_TELEMETRY_SINK=f"file:{events}")
    if site is not None:
        env["PYTHONPATH"] += os.pathsep + str(site)
    done = run_python(f"kwargs = {kwargs!r}\n" + SEND, env=env, cwd=tmp_path)
    assert done.returncode == 0, done.stderr
    return json.loads(done.stdout), json.loads(events.read_text())["visivo_version"]


class TestInEvents:
    def test_installed_distribution(self, tmp_path: Path) -> None:
        """With a `visivo` distribution installed, events carry its version."""
        site = fake_distribution(tmp_path / "site", "Version: 2.2.1\n")
        assert send_one(tmp_path, site) == ({}, "2.2.1")

    def test_given_by_the_host(self, tmp_path: Path) -> None:
        """start(host_version=...) wins over the installed distribution."""
        site = fake_distribution(tmp_path / "site", "Version: 2.2.1\n")
        assert send_one(tmp_path, site, host_version="2.3.0rc1") == ({}, "2.3.0rc1")

    def test_without_a_host(self, tmp_path: Path) -> None:
        """With no `visivo` distribution, events carry this package's version."""
        assert send_one(tmp_path, None) == ({}, __version__)

    @pytest.mark.parametrize("version_file", [None, "Version: not a version\n"])
    def test_broken_metadata_still_sends(self, tmp_path: Path, version_file: str | None) -> None:
        """Unusable host metadata never stops delivery: ours is sent, the error counted,
        and status says why."""
        site = fake_distribution(tmp_path / "site", version_file)
        assert send_one(tmp_path, site) == ({"host_version": 1}, __version__)
        env = clean_env(tmp_path)
        env["PYTHONPATH"] += os.pathsep + str(site)
        report = json.loads(run_cli(["status", "--json"], env=env, cwd=tmp_path).stdout)
        assert report["visivo_version"] == __version__
        assert report["visivo_version_source"] == "visivo-telemetry"
        (problem,) = report["visivo_version_problems"]
        assert HOST_DISTRIBUTION in problem
        human = run_cli(["status"], env=env, cwd=tmp_path).stdout
        assert problem in human


class TestKeepTelemetrySettings:
    def test_telemetry_keys_are_carried_over(self) -> None:
        """Every telemetry key of the current file survives a rewrite that lacks it."""
        current = {
            GLOBAL_KEY: False,
            ENDPOINT_KEY: "https://t.example/v1",
            NOTICE_KEY: True,
            "theme": "dark",
        }
        assert keep_telemetry_settings(current, {"theme": "light"}) == {
            "theme": "light",
            GLOBAL_KEY: False,
            ENDPOINT_KEY: "https://t.example/v1",
            NOTICE_KEY: True,
        }

    def test_the_rewrite_wins_and_nothing_else_is_kept(self) -> None:
        """A key the rewrite sets itself is not replaced; other old keys are not kept."""
        current = {GLOBAL_KEY: False, "theme": "dark"}
        assert keep_telemetry_settings(current, {GLOBAL_KEY: True}) == {GLOBAL_KEY: True}

    def test_a_host_rewrite_keeps_the_opt_out(self, tmp_path: Path) -> None:
        """A host that rewrites the global file through the helper leaves telemetry off."""
        home = tmp_path / "home"
        (home / ".visivo").mkdir(parents=True)
        config = home / ".visivo" / "config.yml"
        config.write_text(f"{GLOBAL_KEY}: false\ntheme: dark\n")
        code = textwrap.dedent(
            f"""
            from ruamel.yaml import YAML
            from visivo.telemetry.host import keep_telemetry_settings
            yaml = YAML(typ="safe")
            path = {str(config)!r}
            with open(path) as f:
                current = yaml.load(f)
            with open(path, "w") as f:
                yaml.dump(keep_telemetry_settings(current, {{"theme": "light"}}), f)
            """
        )
        done = run_python(code, env=clean_env(home), cwd=tmp_path)
        assert done.returncode == 0, done.stderr
        report = json.loads(run_cli(["status", "--json"], env=clean_env(home), cwd=tmp_path).stdout)
        assert (report["enabled"], report["decided_by"]) == (False, "global")
        assert "theme: light" in config.read_text()


class TestLaterStart:
    def test_a_later_start_sets_the_version_and_name(self, tmp_path: Path) -> None:
        """A host version or command name given to a later start() is used from then on."""
        env = {"VISIVO_TELEMETRY_SINK": "memory"}
        runtime.start(tmp_path, env=env, home=tmp_path)
        with track_command("run"):
            pass
        assert runtime.flush(2.0)
        runtime.start(host_version="3.1.0", command_name="visivo telemetry")
        with track_command("compile"):
            pass
        assert runtime.flush(2.0)
        sink = runtime.active_sink()
        assert isinstance(sink, MemorySink)
        first, second = sink.wire()
        assert (first["visivo_version"], second["visivo_version"]) == (__version__, "3.1.0")
        assert first["session_id"] == second["session_id"]
        assert runtime.command_name() == "visivo telemetry"

    def test_status_before_start_does_not_fix_the_version(self, tmp_path: Path) -> None:
        """A version looked up for status before start() gives way to start's host_version."""
        assert runtime.version_choice().source == "visivo-telemetry"
        env = {"VISIVO_TELEMETRY_SINK": "memory"}
        runtime.start(tmp_path, env=env, home=tmp_path, host_version="4.0.0")
        with track_command("run"):
            pass
        assert runtime.flush(2.0)
        sink = runtime.active_sink()
        assert isinstance(sink, MemorySink)
        assert [w["visivo_version"] for w in sink.wire()] == ["4.0.0"]
