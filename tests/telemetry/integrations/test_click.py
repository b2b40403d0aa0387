"""The click integration against the real click, captured with the ``telemetry_events`` fixture."""

from __future__ import annotations

from typing import Any

import click
import pytest
from click.testing import CliRunner

from visivo.events import current_command
from visivo.telemetry.cli import telemetry as telemetry_group
from visivo.telemetry.integrations.click import instrument, is_untracked, untracked
from visivo.telemetry.testing import CapturedEvents


class Boom(RuntimeError):
    """A failure the command raises."""


def make_cli() -> click.Group:
    """A fresh CLI with flat, nested, failing and forwarding commands."""

    @click.group()
    @click.version_option("9.9.9", prog_name="demo")
    def cli() -> None:
        """Demo."""

    @cli.command()
    @click.option("--jobs", type=int, default=3)
    def run(jobs: int) -> None:
        current_command().jobs = jobs
        click.echo(f"ran {jobs}")

    @cli.command()
    def compile() -> None:
        current_command().object_counts = {"chart": 2, "trace": 5}

    @cli.command()
    def boom() -> None:
        raise Boom("secret message /home/me/project")

    @cli.command()
    @click.argument("code", type=int)
    def leave(code: int) -> None:
        raise click.exceptions.Exit(code)

    @cli.command()
    def stop() -> None:
        raise click.Abort

    @cli.command()
    @click.pass_context
    def alias(ctx: click.Context) -> None:
        ctx.invoke(run, jobs=7)
        ctx.forward(compile)

    @untracked
    @cli.command()
    def private() -> None:
        click.echo("private")

    @cli.group()
    def db() -> None:
        """Database."""

    @db.command()
    def migrate() -> None:
        click.echo("migrated")

    @db.group()
    def schema() -> None:
        """Schema."""

    @schema.command()
    @click.version_option("1.0", prog_name="dump")
    def dump() -> None:
        click.echo("dumped")

    return instrument(cli)


def invoke(cli: click.Group, *args: str, standalone: bool = True) -> Any:
    """Run the CLI in-process and return click's result."""
    return CliRunner().invoke(cli, list(args), standalone_mode=standalone, catch_exceptions=True)


def properties(events: CapturedEvents) -> list[dict[str, Any]]:
    """The properties of every captured ``command_finished`` envelope."""
    return [envelope["properties"] for envelope in events.named("command_finished")]


class TestPaths:
    def test_top_level_command_is_tracked_by_name(self, telemetry_events: CapturedEvents) -> None:
        """A subcommand of the root group is tracked under its own name, with its jobs."""
        result = invoke(make_cli(), "run", "--jobs", "12")
        assert result.exit_code == 0
        (props,) = properties(telemetry_events)
        assert props["command"] == "run"
        assert props["success"] is True
        assert props["jobs"] == 12
        assert props["duration_ms"] >= 0

    def test_object_counts_reach_the_event(self, telemetry_events: CapturedEvents) -> None:
        """A command's ``object_counts`` set through ``current_command()`` are sent."""
        invoke(make_cli(), "compile")
        (props,) = properties(telemetry_events)
        assert props["object_counts"] == {"chart": 2, "trace": 5}

    @pytest.mark.parametrize(
        ("args", "path"),
        [(("db", "migrate"), "db migrate"), (("db", "schema", "dump"), "db schema dump")],
    )
    def test_nested_groups_give_the_full_path(
        self, telemetry_events: CapturedEvents, args: tuple[str, ...], path: str
    ) -> None:
        """A command in nested groups is tracked once under its path below the root."""
        assert invoke(make_cli(), *args).exit_code == 0
        assert [p["command"] for p in properties(telemetry_events)] == [path]

    def test_ctx_invoke_and_forward_are_one_event(self, telemetry_events: CapturedEvents) -> None:
        """Commands reached through ``ctx.invoke``/``ctx.forward`` do not add events."""
        assert invoke(make_cli(), "alias").exit_code == 0
        (props,) = properties(telemetry_events)
        assert props["command"] == "alias"
        assert props["jobs"] == 7
        assert props["object_counts"] == {"chart": 2, "trace": 5}

    def test_unknown_command_sends_nothing(self, telemetry_events: CapturedEvents) -> None:
        """A command name click cannot resolve is never sent (it could be anything typed)."""
        assert invoke(make_cli(), "my-secret-project").exit_code == 2
        assert list(telemetry_events) == []

    def test_instrument_is_idempotent(self, telemetry_events: CapturedEvents) -> None:
        """Instrumenting a group twice still sends one event per run."""
        cli = instrument(make_cli())
        invoke(cli, "run")
        assert len(properties(telemetry_events)) == 1

    def test_instrument_rejects_a_plain_command(self) -> None:
        """Only groups can be instrumented; a plain command is a ValueError."""
        with pytest.raises(ValueError, match=r"click\.Group"):
            instrument(click.Command("x"))  # type: ignore[type-var]


class TestFailures:
    @pytest.mark.parametrize("standalone", [True, False])
    def test_exception_type_is_sent_and_reaches_click(
        self, telemetry_events: CapturedEvents, standalone: bool
    ) -> None:
        """A raised exception is sent by type only and reaches click as the same object."""
        result = invoke(make_cli(), "boom", standalone=standalone)
        assert isinstance(result.exception, Boom)
        assert str(result.exception) == "secret message /home/me/project"
        (props,) = properties(telemetry_events)
        assert props == {**props, "command": "boom", "success": False, "error_type": "Boom"}
        assert "secret" not in str(list(telemetry_events))

    @pytest.mark.parametrize("standalone", [True, False])
    def test_usage_error_in_subcommand(
        self, telemetry_events: CapturedEvents, standalone: bool
    ) -> None:
        """A usage error of a resolved subcommand fails with click's exception type."""
        result = invoke(make_cli(), "run", "--jobs", "many", standalone=standalone)
        assert result.exit_code == 2 if standalone else isinstance(result.exception, Exception)
        (props,) = properties(telemetry_events)
        assert props["command"] == "run"
        assert props["success"] is False
        assert props["error_type"] == "BadParameter"

    def test_missing_subcommand_of_nested_group(self, telemetry_events: CapturedEvents) -> None:
        """An unknown subcommand of a nested group fails under the group's path."""
        assert invoke(make_cli(), "db", "nope").exit_code == 2
        (props,) = properties(telemetry_events)
        assert (props["command"], props["error_type"]) == ("db", "NoSuchCommand")

    @pytest.mark.parametrize(("code", "success"), [(0, True), (3, False)])
    def test_exit_codes(self, telemetry_events: CapturedEvents, code: int, success: bool) -> None:
        """``Exit(0)`` from a command is success; any other code fails with type ``Exit``."""
        assert invoke(make_cli(), "leave", str(code)).exit_code == code
        (props,) = properties(telemetry_events)
        assert props["success"] is success
        assert props.get("error_type") == (None if success else "Exit")

    @pytest.mark.parametrize("standalone", [True, False])
    def test_abort(self, telemetry_events: CapturedEvents, standalone: bool) -> None:
        """``click.Abort`` fails with type ``Abort`` and click still handles it."""
        result = invoke(make_cli(), "stop", standalone=standalone)
        if standalone:
            assert result.exit_code == 1
            assert "Aborted!" in result.output
        else:
            assert isinstance(result.exception, click.Abort)
        (props,) = properties(telemetry_events)
        assert props["error_type"] == "Abort"

    def test_failing_receiver_never_reaches_click(self, telemetry_events: CapturedEvents) -> None:
        """A receiver that raises is counted, and click still sees the command's own result."""
        from visivo.events import command_finished
        from visivo.telemetry import runtime

        def broken(sender: object, **payload: object) -> None:
            raise RuntimeError("receiver bug")

        with command_finished.connected_to(broken):
            result = invoke(make_cli(), "boom")
        assert isinstance(result.exception, Boom)
        assert runtime.counters().errors["click"] == 1


class TestSilence:
    @pytest.mark.parametrize(
        "args",
        [
            ("--help",),
            ("--version",),
            ("run", "--help"),
            ("db", "--help"),
            ("db",),
            ("db", "migrate", "--help"),
            ("db", "schema", "dump", "--version"),
            (),
        ],
    )
    def test_help_and_version_send_nothing(
        self, telemetry_events: CapturedEvents, args: tuple[str, ...]
    ) -> None:
        """``--help``, ``--version`` and help shown for missing arguments send nothing."""
        for standalone in (True, False):
            invoke(make_cli(), *args, standalone=standalone)
        assert list(telemetry_events) == []

    def test_shell_completion_sends_nothing(
        self, telemetry_events: CapturedEvents, monkeypatch: pytest.MonkeyPatch
    ) -> None:
        """Shell completion (``_DEMO_COMPLETE``) answers and sends nothing."""
        cli = make_cli()
        result = CliRunner().invoke(
            cli,
            [],
            prog_name="demo",
            env={"_DEMO_COMPLETE": "bash_complete", "COMP_WORDS": "demo db ", "COMP_CWORD": "2"},
        )
        assert "migrate" in result.output
        assert list(telemetry_events) == []

    def test_untracked_command_sends_nothing(self, telemetry_events: CapturedEvents) -> None:
        """A command marked ``untracked`` runs normally and sends nothing."""
        result = invoke(make_cli(), "private")
        assert result.output == "private\n"
        assert list(telemetry_events) == []

    def test_is_untracked(self) -> None:
        """``is_untracked`` tells marked commands apart."""
        assert is_untracked(untracked(click.Command("a")))
        assert not is_untracked(click.Command("b"))


class TestMounted:
    def make_host(self, *, instrument_host: bool) -> click.Group:
        """A host ``visivo`` CLI with the telemetry group mounted, the latter instrumented."""

        @click.group()
        def visivo() -> None:
            """Host."""

        @visivo.command()
        def run() -> None:
            """Run."""

        visivo.add_command(instrument(telemetry_group))
        return instrument(visivo) if instrument_host else visivo

    @pytest.mark.parametrize("instrument_host", [True, False])
    def test_mounted_telemetry_status_is_tracked_once(
        self,
        telemetry_events: CapturedEvents,
        instrument_host: bool,
        tmp_path: Any,
        monkeypatch: pytest.MonkeyPatch,
    ) -> None:
        """``visivo telemetry status`` is one event named ``telemetry status``."""
        monkeypatch.setenv("HOME", str(tmp_path))
        monkeypatch.chdir(tmp_path)
        result = invoke(self.make_host(instrument_host=instrument_host), "telemetry", "status")
        assert result.exit_code == 0, result.output
        assert [p["command"] for p in properties(telemetry_events)] == ["telemetry status"]

    def test_mounted_enable_and_disable_send_nothing(
        self, telemetry_events: CapturedEvents, tmp_path: Any, monkeypatch: pytest.MonkeyPatch
    ) -> None:
        """The CLI's ``enable``/``disable`` stay untracked when mounted."""
        monkeypatch.setenv("HOME", str(tmp_path))
        monkeypatch.chdir(tmp_path)
        host = self.make_host(instrument_host=True)
        # Whether the edit succeeds or fails, an untracked command sends nothing.
        invoke(host, "telemetry", "disable")
        invoke(host, "telemetry", "enable", "--project")
        assert list(telemetry_events) == []
