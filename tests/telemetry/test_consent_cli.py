"""Consent through the real CLI: status explains, enable/disable edit without loss."""

from __future__ import annotations

import json
import os
import pty
import select
import stat
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.servers import Collector
from tests.support import clean_env, run_cli, run_python
from tests.telemetry.policy.test_settings import bench
from visivo.telemetry.notice import text as notice_text

BILLION_LAUGHS = (
    "a: &a [x, x, x, x, x, x, x, x, x]\n"
    + "".join(
        f"{chr(98 + i)}: &{chr(98 + i)} [*{chr(97 + i)}, *{chr(97 + i)}, *{chr(97 + i)}, "
        f"*{chr(97 + i)}, *{chr(97 + i)}, *{chr(97 + i)}, *{chr(97 + i)}, *{chr(97 + i)}]\n"
        for i in range(8)
    )
    + "telemetry_enabled: true\n"
)

BAD_GLOBAL_FILES: dict[str, bytes] = {
    "malformed": b"telemetry_enabled: true\nfoo: [1, 2\nbar: 3\n",
    "not utf-8": b"telemetry_enabled: true\nname: caf\xe9\n",
    "top level a list": b"- telemetry_enabled\n- true\n",
    "string no": b'telemetry_enabled: "no"\n',
    "yaml 1.1 off": b"telemetry_enabled: off\n",
    "integer": b"telemetry_enabled: 1\n",
    "list": b"telemetry_enabled: [false]\n",
    "over 1 MiB": b"telemetry_enabled: true\n" + b"# padding\n" * 110_000,
    "empty value": b"telemetry_enabled:\n",
    "misspelt, not a boolean": b"Telemetry_Enabled: off\n",
}


@pytest.fixture
def home(tmp_path: Path) -> Path:
    path = tmp_path / "home"
    path.mkdir()
    return path


def global_file(home: Path) -> Path:
    return home / ".visivo" / "config.yml"


def write_global(home: Path, content: bytes) -> Path:
    path = global_file(home)
    path.parent.mkdir(exist_ok=True)
    path.write_bytes(content)
    return path


def status_json(home: Path, cwd: Path, **env: str) -> dict[str, object]:
    done = run_cli(["status", "--json"], env=clean_env(home, **env), cwd=cwd)
    assert done.returncode == 0, done.stderr
    assert done.stderr == ""
    report: dict[str, object] = json.loads(done.stdout)
    return report


def source(report: dict[str, object], name: str) -> dict[str, object]:
    sources = report["sources"]
    assert isinstance(sources, list)
    found: dict[str, object] = next(s for s in sources if s["name"] == name)
    return found


class TestStatus:
    @pytest.mark.parametrize("case", list(BAD_GLOBAL_FILES))
    def test_bad_global_file_opts_out_and_says_why(
        self, case: str, home: Path, tmp_path: Path
    ) -> None:
        """Each unreadable or ambiguous global file disables telemetry, with its reason."""
        write_global(home, BAD_GLOBAL_FILES[case])
        started = time.monotonic()
        report = status_json(home, tmp_path)
        assert time.monotonic() - started < 10
        assert report["enabled"] is False
        assert report["decided_by"] == "global"
        error = source(report, "global")["error"]
        assert isinstance(error, str)
        assert error
        assert "\n" not in error

    def test_billion_laughs_is_read_without_expanding(self, home: Path, tmp_path: Path) -> None:
        """Aliases that would expand exponentially are plain YAML: read quickly, as written."""
        write_global(home, BILLION_LAUGHS.encode())
        started = time.monotonic()
        report = status_json(home, tmp_path)
        assert time.monotonic() - started < 10
        assert report["enabled"] is True
        assert source(report, "global")["value"] is True

    @pytest.mark.parametrize("where", ["project", "global"])
    def test_misspelt_key_is_honoured_and_named(
        self, where: str, home: Path, tmp_path: Path
    ) -> None:
        """telemetry-enabled: false opts out, and status names the spelling to fix."""
        if where == "global":
            write_global(home, b"telemetry-enabled: false\n")
        else:
            (tmp_path / "project.visivo.yml").write_text("defaults:\n  telemetry-enabled: false\n")
        note = "read `telemetry-enabled` as `telemetry_enabled`; fix the spelling"
        report = status_json(home, tmp_path)
        assert report["enabled"] is False
        assert report["decided_by"] == where
        assert source(report, where)["note"] == note
        done = run_cli(["status"], env=clean_env(home), cwd=tmp_path)
        (line,) = [line for line in done.stdout.splitlines() if line.strip().startswith(where)]
        assert line.endswith(f"false (opts out); {note}")

    def test_broken_project_without_the_key_says_nothing(self, home: Path, tmp_path: Path) -> None:
        """A project file that does not parse and never mentions the key leaves telemetry on."""
        (tmp_path / "project.visivo.yml").write_text("models:\n  - name: [a,\n")
        report = status_json(home, tmp_path)
        assert report["enabled"] is True
        assert source(report, "project")["error"] is None
        assert source(report, "project")["exists"] is True

    def test_start_is_not_blocked_by_a_huge_odd_project(self, home: Path, tmp_path: Path) -> None:
        """start() reads an 850 KiB project with a tab in its indentation in under 1 s."""
        (tmp_path / "project.visivo.yml").write_text(bench.huge_project("\n  -\tname: odd"))
        code = (
            "import time\nimport visivo.telemetry as t\nstarted = time.perf_counter()\n"
            "t.start()\nprint(time.perf_counter() - started, t.status().enabled)\n"
        )
        done = run_python(code, env=clean_env(home, VISIVO_TELEMETRY_SINK="null"), cwd=tmp_path)
        assert done.returncode == 0, done.stderr
        seconds, enabled = done.stdout.split()
        assert float(seconds) < 1.0
        assert enabled == "False"

    def test_yaml_error_names_the_line(self, home: Path, tmp_path: Path) -> None:
        """A malformed file's problem carries its line number, counted from 1."""
        write_global(home, BAD_GLOBAL_FILES["malformed"])
        error = source(status_json(home, tmp_path), "global")["error"]
        assert isinstance(error, str)
        assert "line 3" in error or "line 2" in error

    def test_directory_instead_of_file(self, home: Path, tmp_path: Path) -> None:
        """A directory where the config file should be opts out."""
        global_file(home).mkdir(parents=True)
        report = status_json(home, tmp_path)
        assert report["enabled"] is False
        assert source(report, "global")["error"]

    def test_unreadable_path(self, home: Path, tmp_path: Path) -> None:
        """A config path that cannot be opened (its parent is a file) opts out."""
        (home / ".visivo").write_text("not a directory")
        report = status_json(home, tmp_path)
        assert report["enabled"] is False
        assert source(report, "global")["error"]

    def test_project_file_opt_out(self, home: Path, tmp_path: Path) -> None:
        """defaults.telemetry_enabled: false in the project file opts out."""
        project = tmp_path / "project"
        project.mkdir()
        (project / "project.visivo.yml").write_text(
            "name: sales\nsources:\n  - name: db\n    password: \"{{ env_var('DB_PASSWORD') }}\"\n"
            "defaults:\n  telemetry_enabled: false\n"
        )
        report = status_json(home, project)
        assert report["enabled"] is False
        assert report["decided_by"] == "project"

    def test_human_status_lists_every_source(self, home: Path, tmp_path: Path) -> None:
        """The human report names the decision, each source, the sink and endpoint."""
        write_global(home, b"telemetry_enabled: false\n")
        done = run_cli(["status"], env=clean_env(home, DO_NOT_TRACK="1"), cwd=tmp_path)
        assert done.returncode == 0
        lines = done.stdout.splitlines()
        assert lines[0] == "Telemetry is disabled by DO_NOT_TRACK."
        for name in ("VISIVO_TELEMETRY_DISABLED", "DO_NOT_TRACK", "project", "global"):
            assert any(line.strip().startswith(name) for line in lines), name
        assert any(line.startswith("Sink:") for line in lines)
        assert any(line.startswith(("Endpoint:", "PostHog:")) for line in lines)

    def test_missing_file_and_missing_key_are_told_apart(self, home: Path, tmp_path: Path) -> None:
        """status says "no file" for an absent file and "no telemetry setting" without the key."""
        write_global(home, b"other: 1\n")
        done = run_cli(["status"], env=clean_env(home), cwd=tmp_path)
        lines = {line.split()[0]: line for line in done.stdout.splitlines() if line[:2] == "  "}
        assert lines["project"].endswith("no file")
        assert lines["global"].endswith("no telemetry setting")
        report = status_json(home, tmp_path)
        assert source(report, "project")["exists"] is False
        assert source(report, "global")["exists"] is True

    def test_malformed_endpoint_is_shown(self, home: Path, tmp_path: Path) -> None:
        """A malformed endpoint is reported by status (and the sink stays inert)."""
        report = status_json(home, tmp_path, VISIVO_TELEMETRY_ENDPOINT="not a url")
        assert report["endpoint_source"] == "VISIVO_TELEMETRY_ENDPOINT"
        assert report["endpoint_problem"]

    def test_malformed_global_endpoint_sends_nowhere(self, home: Path, tmp_path: Path) -> None:
        """A non-string telemetry_endpoint never falls back to the default endpoint."""
        write_global(home, b"telemetry_endpoint: 42\n")
        report = status_json(home, tmp_path)
        assert report["endpoint"] == ""
        assert report["endpoint_source"] == "global"
        assert "not a string" in str(report["endpoint_problem"])
        code = (
            "import visivo.telemetry as t\nfrom visivo.events import track_command\n"
            "t.start()\nwith track_command('run'): pass\nassert t.flush(2.0)\n"
            "print(dict(t.counters().dropped))\n"
        )
        done = run_python(code, env=clean_env(home), cwd=tmp_path)
        assert done.returncode == 0, done.stderr
        assert done.stdout.strip() == "{'invalid_endpoint': 1}"


class TestEdit:
    def test_disable_creates_a_private_folder(self, home: Path, tmp_path: Path) -> None:
        """disable creates ~/.visivo with mode 0700 and the key."""
        done = run_cli(["disable"], env=clean_env(home), cwd=tmp_path)
        assert done.returncode == 0, done.stderr
        assert stat.S_IMODE((home / ".visivo").stat().st_mode) == 0o700
        assert global_file(home).read_text() == "telemetry_enabled: false\n"
        assert status_json(home, tmp_path)["decided_by"] == "global"

    def test_round_trip_keeps_every_byte(self, home: Path, tmp_path: Path) -> None:
        """disable then enable changes only the telemetry line (BOM, CRLF, comments kept)."""
        original = (
            "\ufeff# Visivo settings\r\n"
            "profile: dev   # keep me\r\n"
            "\r\n"
            "tags: {a: 1, b: 'two'}\r\n"
            "servers:\r\n"
            '    - name: "x"\r\n'
            "telemetry_enabled: true"
        ).encode()
        path = write_global(home, original)
        os.chmod(path, 0o640)
        assert run_cli(["disable"], env=clean_env(home), cwd=tmp_path).returncode == 0
        assert path.read_bytes() == original.replace(b"enabled: true", b"enabled: false")
        assert run_cli(["enable"], env=clean_env(home), cwd=tmp_path).returncode == 0
        assert path.read_bytes() == original
        assert stat.S_IMODE(path.stat().st_mode) == 0o640
        assert sorted(p.name for p in path.parent.iterdir()) == ["config.yml"]

    @pytest.mark.parametrize("command", ["disable", "enable"])
    def test_unparseable_file_is_never_touched(
        self, command: str, home: Path, tmp_path: Path
    ) -> None:
        """A file that does not parse: exit 1, one line naming file and line, no change."""
        content = BAD_GLOBAL_FILES["malformed"]
        path = write_global(home, content)
        done = run_cli([command], env=clean_env(home), cwd=tmp_path)
        assert done.returncode == 1
        assert done.stdout == ""
        (line,) = done.stderr.strip().splitlines()
        assert str(path) in line
        assert "line " in line
        assert "Traceback" not in done.stderr
        assert path.read_bytes() == content
        assert sorted(p.name for p in path.parent.iterdir()) == ["config.yml"]

    @pytest.mark.parametrize("command", ["disable", "enable"])
    @pytest.mark.parametrize("content", [b"# c\n|\n  text\n", b"# c\n| # k\n  text\n"])
    def test_block_scalar_top_level_is_a_clean_error(
        self, command: str, content: bytes, home: Path, tmp_path: Path
    ) -> None:
        """A top-level block scalar after a comment: one clean line, exit 1, no change."""
        path = write_global(home, content)
        done = run_cli([command], env=clean_env(home), cwd=tmp_path)
        assert done.returncode == 1
        (line,) = done.stderr.strip().splitlines()
        assert line.startswith(f"Error: {path}: ")
        assert "Traceback" not in done.stderr
        assert path.read_bytes() == content

    def test_edit_and_status_agree_on_the_home_directory(self, home: Path, tmp_path: Path) -> None:
        """Without HOME, disable writes the file that status then reads (USERPROFILE)."""
        env = clean_env(home)
        del env["HOME"]
        env["USERPROFILE"] = str(home)
        assert run_cli(["disable"], env=env, cwd=tmp_path).returncode == 0
        assert global_file(home).read_text() == "telemetry_enabled: false\n"
        done = run_cli(["status", "--json"], env=env, cwd=tmp_path)
        report = json.loads(done.stdout)
        assert report["decided_by"] == "global"
        assert source(report, "global")["location"] == str(global_file(home))

    def test_project_flag_edits_the_project_file(self, home: Path, tmp_path: Path) -> None:
        """disable --project writes defaults.telemetry_enabled, keeping the rest."""
        project = tmp_path / "project"
        project.mkdir()
        original = "name: sales  # the project\ndefaults:\n  target: prod\n"
        (project / "project.visivo.yml").write_text(original)
        done = run_cli(
            ["disable", "--project", "--project-dir", str(project)],
            env=clean_env(home),
            cwd=tmp_path,
        )
        assert done.returncode == 0, done.stderr
        text = (project / "project.visivo.yml").read_text()
        assert text == original + "  telemetry_enabled: false\n"
        assert not global_file(home).exists()

    @pytest.mark.parametrize("command", ["disable", "enable"])
    def test_symlinked_project_file_is_refused(
        self, command: str, home: Path, tmp_path: Path
    ) -> None:
        """A symlinked project.visivo.yml is not edited: one line, exit 1, target untouched."""
        outside = tmp_path / "outside.yml"
        outside.write_text("name: elsewhere\ndefaults:\n  telemetry_enabled: true\n")
        before = outside.read_bytes()
        project = tmp_path / "project"
        project.mkdir()
        link = project / "project.visivo.yml"
        link.symlink_to(outside)
        done = run_cli(
            [command, "--project", "--project-dir", str(project)], env=clean_env(home), cwd=tmp_path
        )
        assert done.returncode == 1
        (line,) = done.stderr.strip().splitlines()
        assert line == (
            f"Error: {link}: is a symbolic link; a project file is edited only in place "
            "(file not changed)"
        )
        assert outside.read_bytes() == before
        assert link.is_symlink()
        assert sorted(p.name for p in tmp_path.iterdir()) == ["home", "outside.yml", "project"]

    def test_symlinked_global_file_edits_its_target(self, home: Path, tmp_path: Path) -> None:
        """The user's own symlinked ~/.visivo/config.yml stays a link; its target is edited."""
        dotfiles = tmp_path / "dotfiles"
        dotfiles.mkdir()
        target = dotfiles / "visivo.yml"
        target.write_text("profile: dev\n")
        (home / ".visivo").mkdir()
        global_file(home).symlink_to(target)
        done = run_cli(["disable"], env=clean_env(home), cwd=tmp_path)
        assert done.returncode == 0, done.stderr
        assert global_file(home).is_symlink()
        assert target.read_text() == "profile: dev\ntelemetry_enabled: false\n"
        assert status_json(home, tmp_path)["decided_by"] == "global"

    def test_enable_names_the_source_that_still_opts_out(self, home: Path, tmp_path: Path) -> None:
        """enable succeeds but says which source keeps telemetry off."""
        done = run_cli(["enable"], env=clean_env(home, DO_NOT_TRACK="1"), cwd=tmp_path)
        assert done.returncode == 0
        assert "DO_NOT_TRACK still opts out" in done.stdout

    @pytest.mark.parametrize(
        ("start", "expected"),
        [("", "demo telemetry"), ("t.start(command_name='visivo telemetry')", "visivo telemetry")],
    )
    def test_enable_names_the_command_as_mounted(
        self, start: str, expected: str, home: Path, tmp_path: Path
    ) -> None:
        """Mounted in a host CLI, enable points at `<host> telemetry status`, or at the
        name the host gave start()."""
        code = (
            "import click, visivo.telemetry as t\n"
            "from visivo.telemetry.cli import telemetry\n"
            f"{start}\n"
            "demo = click.Group('demo', commands=[telemetry])\n"
            "demo(['telemetry', 'enable'], prog_name='demo')\n"
        )
        done = run_python(code, env=clean_env(home, DO_NOT_TRACK="1"), cwd=tmp_path)
        assert done.returncode == 0, done.stderr
        assert f"(see `{expected} status`)" in done.stdout

    @pytest.mark.parametrize("command", ["disable", "enable"])
    def test_edits_emit_no_event(self, command: str, home: Path, tmp_path: Path) -> None:
        """enable and disable never emit an event."""
        done = run_cli([command], env=clean_env(home, VISIVO_TELEMETRY_SINK="stdout"), cwd=tmp_path)
        assert done.returncode == 0
        assert "command_finished" not in done.stdout


EMIT = (
    "import visivo.telemetry as t; from visivo.events import track_command\n"
    "t.start()\nwith track_command('run'): pass\n"
)


@pytest.fixture
def collector() -> Iterator[Collector]:
    with Collector() as server:
        yield server


def run_under_pty(env: dict[str, str], cwd: Path, code: str = EMIT) -> str:
    """Run ``code`` with stderr on a pseudo-terminal; return what the terminal showed."""
    controller, terminal = pty.openpty()
    try:
        process = subprocess.Popen(
            [sys.executable, "-c", code],
            env=env,
            cwd=cwd,
            stdin=subprocess.DEVNULL,
            stdout=subprocess.DEVNULL,
            stderr=terminal,
        )
        os.close(terminal)
        output = b""
        deadline = time.monotonic() + 20
        while time.monotonic() < deadline:
            ready, _, _ = select.select([controller], [], [], 0.2)
            if ready:
                try:
                    chunk = os.read(controller, 4096)
                except OSError:
                    break
                if not chunk:
                    break
                output += chunk
            elif process.poll() is not None:
                break
        assert process.wait(10) == 0
        return output.decode().replace("\r\n", "\n")
    finally:
        os.close(controller)


class TestNotice:
    def test_shown_once_on_a_terminal(
        self, home: Path, tmp_path: Path, collector: Collector
    ) -> None:
        """The notice appears on the first networked run at a terminal, then never again."""
        env = clean_env(home, VISIVO_TELEMETRY_ENDPOINT=collector.url)
        first = run_under_pty(env, tmp_path)
        assert notice_text() in first
        assert "notice_shown: true" in global_file(home).read_text()
        assert stat.S_IMODE((home / ".visivo").stat().st_mode) == 0o700
        second = run_under_pty(env, tmp_path)
        assert notice_text() not in second
        assert len(collector.wait_for_requests(2, timeout=5)) == 2

    def test_never_when_piped(self, home: Path, tmp_path: Path, collector: Collector) -> None:
        """Without a terminal no notice is printed and nothing is recorded."""
        env = clean_env(home, VISIVO_TELEMETRY_ENDPOINT=collector.url)
        done = run_python(EMIT, env=env, cwd=tmp_path)
        assert done.returncode == 0
        assert done.stderr == ""
        assert not global_file(home).exists()

    @pytest.mark.parametrize("extra", [{"VISIVO_TELEMETRY_SINK": "stderr"}, {"DO_NOT_TRACK": "1"}])
    def test_never_with_console_sink_or_disabled(
        self, extra: dict[str, str], home: Path, tmp_path: Path, collector: Collector
    ) -> None:
        """A console sink or disabled telemetry never shows the notice."""
        env = clean_env(home, VISIVO_TELEMETRY_ENDPOINT=collector.url, **extra)
        assert notice_text() not in run_under_pty(env, tmp_path)
        assert not global_file(home).exists()

    def test_names_the_command_as_the_host_mounts_it(
        self, home: Path, tmp_path: Path, collector: Collector
    ) -> None:
        """start(command_name=...) makes the notice name the host's command, not ours."""
        env = clean_env(home, VISIVO_TELEMETRY_ENDPOINT=collector.url)
        code = EMIT.replace("t.start()", "t.start(command_name='visivo telemetry')")
        shown = run_under_pty(env, tmp_path, code)
        assert notice_text("visivo telemetry") in shown
        assert "visivo telemetry disable" in shown
        assert "visivo-telemetry" not in shown

    def test_names_the_mounted_group(
        self, home: Path, tmp_path: Path, collector: Collector
    ) -> None:
        """With our group mounted in an instrumented host CLI, the notice names it that way."""
        env = clean_env(home, VISIVO_TELEMETRY_ENDPOINT=collector.url)
        code = (
            "import click, visivo.telemetry as t\n"
            "from visivo.telemetry.cli import telemetry\n"
            "from visivo.telemetry.integrations.click import instrument\n"
            "demo = click.Group('demo', commands=[telemetry, click.Command('run')])\n"
            "t.start()\n"
            "instrument(demo)(['run'], prog_name='demo')\n"
        )
        shown = run_under_pty(env, tmp_path, code)
        assert notice_text("demo telemetry") in shown
