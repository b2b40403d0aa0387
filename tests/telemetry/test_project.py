"""Finding the project: upward discovery, a removed working directory, late decisions."""

from __future__ import annotations

import json
import shlex
import sys
import textwrap
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.servers import Collector
from tests.support import CONSOLE_SCRIPT, clean_env, run, run_cli
from visivo.events import track_command
from visivo.telemetry import runtime
from visivo.telemetry.counters import LATE_OPT_OUT
from visivo.telemetry.policy.settings import PROJECT_FILE
from visivo.telemetry.settings import locate_project
from visivo.telemetry.sinks.memory import MemorySink

OPT_OUT = "defaults:\n  telemetry_enabled: false\n"
OPT_IN = "defaults:\n  telemetry_enabled: true\n"


def project(directory: Path, text: str) -> Path:
    directory.mkdir(parents=True, exist_ok=True)
    path = directory / PROJECT_FILE
    path.write_text(text)
    return path


@pytest.fixture
def home(tmp_path: Path) -> Path:
    path = tmp_path / "home"
    path.mkdir()
    return path


@pytest.fixture
def collector() -> Iterator[Collector]:
    with Collector() as server:
        yield server


@pytest.fixture
def http_env(home: Path, collector: Collector) -> dict[str, str]:
    """A clean environment whose events go to the loopback collector."""
    return clean_env(home, VISIVO_TELEMETRY_SINK="http", VISIVO_TELEMETRY_ENDPOINT=collector.url)


class TestLocate:
    def test_found_in_a_parent(self, home: Path) -> None:
        """From a subdirectory, the project file of an enclosing directory is used."""
        found = project(home / "work" / "proj", OPT_OUT)
        deep = home / "work" / "proj" / "models" / "sales"
        deep.mkdir(parents=True)
        assert locate_project(None, home=home, cwd=deep).path == found

    def test_nearest_wins(self, home: Path) -> None:
        """The first project file on the way up is used, not an outer one."""
        project(home / "outer", OPT_OUT)
        inner = project(home / "outer" / "inner", OPT_IN)
        assert locate_project(None, home=home, cwd=inner.parent).path == inner

    def test_home_is_searched_but_nothing_above(self, tmp_path: Path, home: Path) -> None:
        """The search covers the home directory itself and never goes above it."""
        project(tmp_path, OPT_OUT)
        below = home / "a" / "b"
        below.mkdir(parents=True)
        located = locate_project(None, home=home, cwd=below)
        assert located.path is None
        assert str(home) in located.missing
        in_home = project(home, OPT_OUT)
        assert locate_project(None, home=home, cwd=below).path == in_home

    def test_outside_home_goes_up_to_the_root(self, tmp_path: Path, home: Path) -> None:
        """A working directory outside home is searched up to the filesystem root."""
        found = project(tmp_path / "elsewhere", OPT_OUT)
        below = tmp_path / "elsewhere" / "x" / "y"
        below.mkdir(parents=True)
        assert locate_project(None, home=home, cwd=below).path == found

    def test_a_named_directory_is_used_as_it_is(self, home: Path) -> None:
        """A directory the host names is never searched upwards."""
        project(home, OPT_OUT)
        named = home / "proj"
        named.mkdir()
        assert locate_project(named, home=home, cwd=home).path == named / PROJECT_FILE

    def test_no_working_directory(self, home: Path) -> None:
        """A removed working directory means no project, said plainly."""
        located = locate_project(None, home=home, cwd=None)
        assert located.path is None
        assert "no working directory" in located.missing


class TestStatusFromASubdirectory:
    def test_status_names_the_file_it_used(self, home: Path) -> None:
        """status run in a subdirectory reports the project file found above it."""
        found = project(home / "proj", OPT_OUT)
        deep = home / "proj" / "models"
        deep.mkdir()
        done = run_cli(["status", "--json"], env=clean_env(home), cwd=deep)
        assert done.returncode == 0, done.stderr
        report = json.loads(done.stdout)
        assert (report["enabled"], report["decided_by"]) == (False, "project")
        source = next(s for s in report["sources"] if s["name"] == "project")
        assert source["location"] == str(found)

    def test_disable_project_edits_the_file_found(self, home: Path) -> None:
        """disable --project in a subdirectory edits the project file above it."""
        found = project(home / "proj", "name: sales\n")
        deep = home / "proj" / "models"
        deep.mkdir()
        done = run_cli(["disable", "--project"], env=clean_env(home), cwd=deep)
        assert done.returncode == 0, done.stderr
        assert str(found) in done.stdout
        assert found.read_text() == "name: sales\n" + OPT_OUT
        assert not (deep / PROJECT_FILE).exists()

    def test_a_project_above_home_is_not_used(self, tmp_path: Path, home: Path) -> None:
        """An opt-out in a directory above home does not apply below home."""
        project(tmp_path, OPT_OUT)
        done = run_cli(["status", "--json"], env=clean_env(home), cwd=home)
        report = json.loads(done.stdout)
        assert report["enabled"] is True


def in_removed_directory(argv: list[str], tmp_path: Path, env: dict[str, str]) -> list[str]:
    """A shell line that enters a directory, removes it, then runs ``argv`` there."""
    gone = tmp_path / "gone"
    gone.mkdir()
    line = f"cd {shlex.quote(str(gone))} && rmdir {shlex.quote(str(gone))} && exec "
    return ["sh", "-c", line + shlex.join(argv)]


class TestRemovedWorkingDirectory:
    @pytest.mark.parametrize(
        "args", [["status"], ["status", "--json"], ["disable"], ["enable"]], ids=" ".join
    )
    def test_cli_works_without_a_working_directory(
        self, args: list[str], tmp_path: Path, home: Path
    ) -> None:
        """status and the global enable/disable work from a directory that was removed."""
        env = clean_env(home)
        done = run(
            in_removed_directory([str(CONSOLE_SCRIPT), *args], tmp_path, env), env=env, cwd=tmp_path
        )
        assert done.returncode == 0, done.stderr
        assert "Traceback" not in done.stderr
        if args == ["status", "--json"]:
            source = next(s for s in json.loads(done.stdout)["sources"] if s["name"] == "project")
            assert "no working directory" in source["location"]
        if args == ["status"]:
            assert "no working directory" in done.stdout

    def test_project_edit_asks_for_a_directory(self, tmp_path: Path, home: Path) -> None:
        """disable --project without a working directory fails with a clear message."""
        env = clean_env(home)
        argv = in_removed_directory([str(CONSOLE_SCRIPT), "disable", "--project"], tmp_path, env)
        done = run(argv, env=env, cwd=tmp_path)
        assert done.returncode == 1
        assert "Traceback" not in done.stderr
        assert "no working directory" in done.stderr
        assert "--project-dir" in done.stderr

    def test_start_from_a_removed_directory_still_sends(self, tmp_path: Path, home: Path) -> None:
        """A host started in a removed directory has no project and still runs."""
        events = tmp_path / "events.jsonl"
        env = clean_env(home, VISIVO_TELEMETRY_SINK=f"file:{events}")
        code = (
            "import visivo.telemetry as t\nfrom visivo.events import track_command\n"
            "assert t.start().enabled\nwith track_command('run'): pass\n"
        )
        done = run(
            in_removed_directory([sys.executable, "-c", code], tmp_path, env), env=env, cwd=tmp_path
        )
        assert done.returncode == 0, done.stderr
        assert json.loads(events.read_text())["properties"]["command"] == "run"


LATE = textwrap.dedent(
    """
    import json, sys
    import visivo.telemetry as telemetry
    from visivo.events import track_command
    print(json.dumps(telemetry.start().enabled))
    with track_command("run"):
        pass
    print(json.dumps(telemetry.use_project(sys.argv[1]).decided_by))
    with track_command("compile"):
        pass
    print(json.dumps(telemetry.use_project(sys.argv[2]).enabled))
    with track_command("serve"):
        pass
    telemetry.shutdown()
    counts = telemetry.counters()
    print(json.dumps({"enqueued": counts.enqueued, "sent": counts.sent,
                      "dropped": dict(counts.dropped)}))
    """
)


class TestUseProject:
    def test_late_opt_out_sends_nothing(
        self, tmp_path: Path, home: Path, collector: Collector, http_env: dict[str, str]
    ) -> None:
        """An opt-out learned by use_project drops what was queued; nothing reaches the
        collector, even after a later project that says nothing."""
        opted_out = project(tmp_path / "proj", OPT_OUT).parent
        silent = tmp_path / "other"
        silent.mkdir()
        env = http_env
        done = run([sys.executable, "-c", LATE, str(opted_out), str(silent)], env=env, cwd=home)
        assert done.returncode == 0, done.stderr
        enabled, decided_by, later, counts = map(json.loads, done.stdout.splitlines())
        assert (enabled, decided_by, later) == (True, "project", False)
        assert counts == {"enqueued": 1, "sent": 0, "dropped": {LATE_OPT_OUT: 1}}
        assert collector.requests == []

    def test_a_named_project_that_says_nothing_keeps_sending(
        self, tmp_path: Path, home: Path, collector: Collector, http_env: dict[str, str]
    ) -> None:
        """use_project with a project that does not opt out changes nothing."""
        quiet = tmp_path / "proj"
        quiet.mkdir()
        env = http_env
        done = run([sys.executable, "-c", LATE, str(quiet), str(quiet)], env=env, cwd=home)
        assert done.returncode == 0, done.stderr
        assert json.loads(done.stdout.splitlines()[-1])["sent"] == 3
        bodies = [r.json() for r in collector.wait_for_requests(1, timeout=5)]
        commands = [e["properties"]["command"] for body in bodies for e in body["batch"]]
        assert commands == ["run", "compile", "serve"]

    def test_the_named_project_decides_not_the_working_directory(
        self, tmp_path: Path, home: Path
    ) -> None:
        """A start disabled by the working directory's project follows the project named
        later: its events are sent."""
        events = tmp_path / "events.jsonl"
        here = project(home / "here", OPT_OUT).parent
        there = project(home / "there", OPT_IN).parent
        code = (
            "import sys, visivo.telemetry as t\nfrom visivo.events import track_command\n"
            "assert not t.start().enabled\nassert t.use_project(sys.argv[1]).enabled\n"
            "with track_command('run'): pass\n"
        )
        env = clean_env(home, VISIVO_TELEMETRY_SINK=f"file:{events}")
        done = run([sys.executable, "-c", code, str(there)], env=env, cwd=here)
        assert done.returncode == 0, done.stderr
        assert json.loads(events.read_text())["properties"]["command"] == "run"

    def test_use_project_before_start_starts(self, tmp_path: Path, home: Path) -> None:
        """use_project without a start() starts telemetry with that project."""
        events = tmp_path / "events.jsonl"
        code = (
            "import sys, visivo.telemetry as t\nfrom visivo.events import track_command\n"
            "assert t.use_project(sys.argv[1]).enabled\nassert t.start().enabled\n"
            "with track_command('run'): pass\n"
        )
        env = clean_env(home, VISIVO_TELEMETRY_SINK=f"file:{events}")
        done = run([sys.executable, "-c", code, str(tmp_path)], env=env, cwd=home)
        assert done.returncode == 0, done.stderr
        assert json.loads(events.read_text())["properties"]["command"] == "run"


CLICK_HOST = textwrap.dedent(
    """
    import click
    import visivo.telemetry as telemetry
    from visivo.telemetry.integrations.click import instrument

    @click.group()
    def cli():
        pass

    @cli.command()
    @click.option("-w", "--working-dir", default=".")
    def run(working_dir):
        click.echo("ran")

    telemetry.start()
    instrument(cli, project_dir_option="working_dir")
    cli()
    """
)


CLICK_HOST_GROUP_OPTION = textwrap.dedent(
    """
    import click
    import visivo.telemetry as telemetry
    from visivo.telemetry.integrations.click import instrument

    @click.group()
    @click.option("-w", "--working-dir", default=None)
    def cli(working_dir):
        pass

    @cli.command()
    def run():
        click.echo("ran")

    telemetry.start()
    instrument(cli, project_dir_option="working_dir")
    cli()
    """
)


class TestClickProjectOption:
    @pytest.mark.parametrize(
        ("script", "args"),
        [(CLICK_HOST, ["run", "-w"]), (CLICK_HOST_GROUP_OPTION, ["-w"])],
        ids=["command option", "group option"],
    )
    def test_an_opted_out_project_option_sends_nothing(
        self,
        script: str,
        args: list[str],
        tmp_path: Path,
        collector: Collector,
        http_env: dict[str, str],
    ) -> None:
        """`run -w DIR` (or `cli -w DIR run`) with an opted-out project sends nothing."""
        opted_out = project(tmp_path / "proj", OPT_OUT).parent
        argv = [sys.executable, "-c", script, *args, str(opted_out)]
        if "run" not in args:
            argv.append("run")
        done = run(argv, env=http_env, cwd=tmp_path)
        assert (done.returncode, done.stdout, done.stderr) == (0, "ran\n", "")
        assert collector.requests == []

    def test_without_the_option_the_command_sends(
        self, tmp_path: Path, collector: Collector, http_env: dict[str, str]
    ) -> None:
        """The same host without -w (no project anywhere) sends its event."""
        done = run([sys.executable, "-c", CLICK_HOST, "run"], env=http_env, cwd=tmp_path)
        assert done.returncode == 0, done.stderr
        (request,) = collector.wait_for_requests(1, timeout=5)
        assert [e["properties"]["command"] for e in request.json()["batch"]] == ["run"]

    def test_without_start_the_option_starts_nothing(self, tmp_path: Path, home: Path) -> None:
        """A host that never started telemetry is not started by the option."""
        code = CLICK_HOST.replace("telemetry.start()", "")
        env = clean_env(home, VISIVO_TELEMETRY_SINK="stdout")
        done = run([sys.executable, "-c", code, "run", "-w", str(tmp_path)], env=env, cwd=home)
        assert (done.returncode, done.stdout) == (0, "ran\n")


class TestInProcess:
    def test_a_test_pipeline_ignores_use_project(self, tmp_path: Path) -> None:
        """A pipeline started by start_with_sink (the pytest plugin) keeps capturing
        whatever project the code under test names."""
        sink = MemorySink()
        runtime.start_with_sink(sink)
        opted_out = project(tmp_path / "proj", OPT_OUT).parent
        assert runtime.use_project(opted_out).enabled
        with track_command("run"):
            pass
        assert runtime.flush(2.0)
        assert [w["properties"]["command"] for w in sink.wire()] == ["run"]

    def test_late_opt_out_accounts_for_every_event(self, tmp_path: Path) -> None:
        """Events queued before a late opt-out are dropped, and counted as such."""
        env = {"VISIVO_TELEMETRY_SINK": "memory"}
        assert runtime.start(tmp_path, env=env, home=tmp_path).enabled
        sink = runtime.active_sink()
        for name in ("run", "compile"):
            with track_command(name):
                pass
        opted_out = project(tmp_path / "proj", OPT_OUT).parent
        assert runtime.use_project(opted_out).decided_by == "project"
        with track_command("serve"):
            pass
        counts = runtime.counters()
        assert (counts.enqueued, counts.sent, counts.queued) == (2, 0, 0)
        assert counts.dropped == {LATE_OPT_OUT: 2}
        assert isinstance(sink, MemorySink)
        assert sink.wire() == []
        assert not runtime.start(opted_out, project_setting=True, env=env).enabled
