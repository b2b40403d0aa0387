"""The ``visivo-telemetry`` command, also mountable as ``visivo telemetry``."""

from __future__ import annotations

import json
import os
import time
from pathlib import Path
from typing import Any

import attrs
import click

from visivo.telemetry import notice, runtime, schema_doc, schema_versions
from visivo.telemetry._version import __version__
from visivo.telemetry.host import HOST_DISTRIBUTION, VersionSource
from visivo.telemetry.integrations.click import instrument, untracked
from visivo.telemetry.policy import settings
from visivo.telemetry.policy.optout import SourceReport
from visivo.telemetry.settings import locate_project, working_dir
from visivo.telemetry.sinks import registry
from visivo.telemetry.sinks.network.destinations import (
    NO_ENDPOINT,
    Destination,
    destination_for,
    http_destination,
)
from visivo.telemetry.sinks.network.endpoint import endpoint_problem, redact

__all__ = ["main", "status_report", "telemetry"]

_project_dir_option = click.option(
    "--project-dir",
    type=click.Path(file_okay=False, path_type=Path),
    default=None,
    help="The Visivo project directory (default: the nearest one holding "
    "project.visivo.yml, from the current directory up to your home directory).",
)


@click.group(name="telemetry")
@click.version_option(__version__, prog_name=notice.COMMAND)
def telemetry() -> None:
    """See and change what Visivo's anonymous usage telemetry sends."""


def status_report(project_dir: Path | None = None) -> dict[str, Any]:
    """Everything ``status --json`` prints, read from the environment and config files.

    Never an API key, a header value or URL credentials, whatever their source.
    """
    found = runtime.read_settings(project_dir)
    decision = found.decision
    names, sink_problem = registry.check(found.sink_spec)
    version = runtime.version_choice()
    return {
        "enabled": decision.enabled,
        "decided_by": decision.decided_by,
        "visivo_version": version.version,
        "visivo_version_source": version.source,
        "visivo_version_problems": list(version.problems),
        "sources": [
            {
                "name": report.name,
                "location": report.location,
                "value": report.value,
                "error": report.error,
                "opts_out": report.opts_out,
                "exists": report.exists,
                "note": report.note,
            }
            for report in decision.sources
        ],
        "sink": ",".join(names),
        "sink_source": found.sink_source,
        "sink_problem": sink_problem,
        "endpoint": redact(found.endpoint),
        "endpoint_source": found.endpoint_source,
        "endpoint_problem": _endpoint_problem(found),
        "destinations": [d.report() for d in _destinations(found, names)],
        "delivery": _delivery(found, names),
    }


def _delivery(found: runtime.Settings, names: tuple[str, ...]) -> list[dict[str, Any]]:
    """Per usable network destination: paused after failures, or when it last worked."""
    from visivo.telemetry.sinks.backoff import delivery_status, destination_key
    from visivo.telemetry.sinks.delivery_state import StateStore

    state_dir = runtime.delivery_state_dir(found)
    if state_dir is None or not found.decision.enabled:
        return []
    entries = StateStore(state_dir).load()
    now = time.time()
    return [
        {
            "sink": destination.sink,
            "url": redact(destination.url),
            **delivery_status(entries.get(destination_key(destination.url)), now),
        }
        for destination in _destinations(found, names)
        if destination.problem is None and destination.url
    ]


def _endpoint_problem(found: runtime.Settings) -> str | None:
    if found.endpoint_source == "global" and found.global_settings is not None:
        error = found.global_settings.endpoint_error
        if error is not None:
            return f"{found.global_settings.reading.location}: {error}"
    return endpoint_problem(found.endpoint) if found.endpoint else NO_ENDPOINT


def _destinations(found: runtime.Settings, names: tuple[str, ...]) -> list[Destination]:
    """One destination per selected network sink, as the sinks would resolve them."""
    chosen = []
    for name in dict.fromkeys(names):
        if name == "http":
            problem = _endpoint_problem(found)
            chosen.append(http_destination(found.endpoint, found.endpoint_source, problem))
        elif name in registry.NETWORK_SINKS:
            chosen.append(destination_for(name, endpoint=found.endpoint, env=os.environ))
    return chosen


# How each network sink's line starts in the human report.
_DESTINATION_LABELS = {"posthog": "PostHog:", "otlp": "OTLP:", "http": "Endpoint:"}


def _destination_line(destination: dict[str, Any]) -> str:
    label = f"{_DESTINATION_LABELS.get(destination['sink'], destination['sink'] + ':'):<10}"
    if destination["problem"]:
        return f"{label}{destination['sink']} sink: {destination['problem']}; nothing will be sent"
    return f"{label}{destination['url']} (from {destination['source']})"


def _describe_source(report: SourceReport) -> str:
    if report.note is not None:
        return f"{_describe_source(attrs.evolve(report, note=None))}; {report.note}"
    if report.error is not None:
        return f"problem: {report.error} (opts out)"
    if report.value is None:
        if report.location == "environment":
            return "not set"
        return "no telemetry setting" if report.exists else "no file"
    said = json.dumps(report.value)
    return f"{said} (opts out)" if report.opts_out else said


_VERSION_SOURCES: dict[VersionSource, str] = {
    "host_version": "given by the host",
    "distribution": f"the installed {HOST_DISTRIBUTION} distribution's",
    "visivo-telemetry": "visivo-telemetry's own",
}


def _version_lines(report: dict[str, Any]) -> list[str]:
    source = _VERSION_SOURCES[report["visivo_version_source"]]
    lines = [f"Events carry visivo_version {report['visivo_version']} ({source})."]
    return lines + [f"  {problem}" for problem in report["visivo_version_problems"]]


def _render(report: dict[str, Any]) -> str:
    if report["enabled"]:
        lines = ["Telemetry is enabled: no source opts out."]
    else:
        lines = [f"Telemetry is disabled by {report['decided_by']}."]
    lines += _version_lines(report)
    lines += ["", "Sources, highest precedence first:"]
    for source in report["sources"]:
        described = _describe_source(
            SourceReport(
                source["name"],
                source["location"],
                source["value"],
                source["error"],
                source["opts_out"],
                source["exists"],
                source["note"],
            )
        )
        lines.append(f"  {source['name']:<26} {source['location']:<40} {described}")
    sink = f"{report['sink']} (from {report['sink_source']})"
    if report["sink_problem"]:
        sink = f"{report['sink']} ({report['sink_problem']})"
    if not report["enabled"]:
        sink += " (inactive while telemetry is disabled)"
    lines += ["", f"Sink:     {sink}"]
    lines += [_destination_line(destination) for destination in report["destinations"]]
    if report["endpoint"] and "http" not in report["sink"].split(","):
        lines.append(f"Endpoint: {report['endpoint']} (not used by this sink)")
    lines += [
        f"Delivery: {destination['sink']}: {destination['summary']}"
        for destination in report["delivery"]
    ]
    return "\n".join(lines)


@telemetry.command()
@click.option("--json", "as_json", is_flag=True, help="Print one JSON object.")
@click.option(
    "--retry-now",
    is_flag=True,
    help="Forget earlier delivery failures, so that the next command sends again.",
)
@_project_dir_option
def status(as_json: bool, retry_now: bool, project_dir: Path | None) -> None:
    """Show whether telemetry is on, why, and where events would go."""
    if retry_now:
        _retry_now(project_dir, quiet=as_json)
    report = status_report(project_dir)
    click.echo(json.dumps(report, indent=2) if as_json else _render(report))


def _retry_now(project_dir: Path | None, *, quiet: bool) -> None:
    from visivo.telemetry.sinks.delivery_state import StateStore, Written, clear_backoff

    state_dir = runtime.delivery_state_dir(runtime.read_settings(project_dir))
    written = Written.UNCHANGED if state_dir is None else clear_backoff(StateStore(state_dir))
    if written in (Written.BUSY, Written.FAILED):
        raise click.ClickException("could not clear the delivery backoff: try again")
    if not quiet:
        click.echo("Delivery backoff cleared: the next command sends again.\n")


@telemetry.command()
@click.option(
    "--format",
    "output_format",
    type=click.Choice(["markdown", "json"]),
    default="markdown",
    show_default=True,
    help="Markdown tables, or a JSON Schema (draft 2020-12) for validating events.",
)
@click.option(
    "--version",
    "schema_version",
    type=int,
    default=None,
    help="With --format json: the published JSON Schema of an earlier schema_version.",
)
def schema(output_format: str, schema_version: int | None) -> None:
    """Print every field that telemetry can send, generated from the event classes."""
    if schema_version is not None:
        if output_format != "json":
            raise click.UsageError("--version needs --format json")
        try:
            published = schema_versions.published_schema(schema_version)
        except ValueError as error:
            raise click.UsageError(str(error)) from None
        click.echo(schema_versions.schema_text(published), nl=False)
    elif output_format == "json":
        click.echo(json.dumps(schema_doc.json_schema(), indent=2, ensure_ascii=False))
    else:
        click.echo(schema_doc.markdown_tables(), nl=False)


def _group_name(ctx: click.Context) -> str:
    """How the user typed the ``telemetry`` group: ``visivo-telemetry``, ``visivo telemetry``."""
    parent = ctx.parent
    return runtime.command_name(parent.command_path if parent is not None else None)


def _project_file(project_dir: Path | None, home: Path) -> Path:
    """The project file to edit: the one status reads, else a new one here."""
    here = working_dir()
    located = locate_project(project_dir, home=home, cwd=here)
    if located.path is not None:
        return located.path
    if here is None:
        raise click.ClickException(f"{located.missing}: pass --project-dir")
    return settings.project_config_path(here)


def _set(enabled: bool, project: bool, project_dir: Path | None) -> None:
    home = runtime.home_dir(os.environ)
    if project:
        path = _project_file(project_dir, home)
        setter = settings.set_project_enabled
    else:
        path = settings.global_config_path(home)
        setter = settings.set_global_enabled
    try:
        setter(path, enabled)
    except settings.SettingsError as error:
        raise click.ClickException(str(error)) from None
    word = "enabled" if enabled else "disabled"
    click.echo(f"Telemetry {word} in {path}.")
    if enabled:
        decision = runtime.read_settings(path.parent if project else project_dir).decision
        if not decision.enabled:
            name = _group_name(click.get_current_context())
            click.echo(
                f"Telemetry stays disabled: {decision.decided_by} still opts out "
                f"(see `{name} status`)."
            )


@untracked
@telemetry.command()
@click.option("--project", is_flag=True, help="Change project.visivo.yml, not ~/.visivo.")
@_project_dir_option
def disable(project: bool, project_dir: Path | None) -> None:
    """Turn telemetry off in the global (or the project) config file."""
    _set(False, project, project_dir)


@untracked
@telemetry.command()
@click.option("--project", is_flag=True, help="Change project.visivo.yml, not ~/.visivo.")
@_project_dir_option
def enable(project: bool, project_dir: Path | None) -> None:
    """Turn telemetry on in the global (or the project) config file."""
    _set(True, project, project_dir)


def main(argv: list[str] | None = None) -> None:
    """Entry point of the ``visivo-telemetry`` console script."""
    runtime.start()
    instrument(telemetry)
    telemetry.main(args=argv, prog_name=notice.COMMAND)
