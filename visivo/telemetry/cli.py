"""The ``visivo-telemetry`` command, also mountable as ``visivo telemetry``."""

from __future__ import annotations

import json
import os
import time
from pathlib import Path
from typing import Any

import click

from visivo.telemetry import runtime, schema_doc
from visivo.telemetry._version import __version__
from visivo.telemetry.integrations.click import instrument, untracked
from visivo.telemetry.policy import settings
from visivo.telemetry.policy.optout import SourceReport
from visivo.telemetry.sinks import registry

__all__ = ["main", "status_report", "telemetry"]

_project_dir_option = click.option(
    "--project-dir",
    type=click.Path(file_okay=False, path_type=Path),
    default=None,
    help="The Visivo project directory (default: the current directory).",
)


@click.group(name="telemetry")
@click.version_option(__version__, prog_name="visivo-telemetry")
def telemetry() -> None:
    """See and change what Visivo's anonymous usage telemetry sends."""


def status_report(project_dir: Path | None = None) -> dict[str, Any]:
    """Everything ``status --json`` prints, read from the environment and config files."""
    found = runtime.read_settings(project_dir)
    decision = found.decision
    names, sink_problem = registry.check(found.sink_spec)
    return {
        "enabled": decision.enabled,
        "decided_by": decision.decided_by,
        "sources": [
            {
                "name": report.name,
                "location": report.location,
                "value": report.value,
                "error": report.error,
                "opts_out": report.opts_out,
                "exists": report.exists,
            }
            for report in decision.sources
        ],
        "sink": ",".join(names),
        "sink_problem": sink_problem,
        "endpoint": found.endpoint,
        "endpoint_source": found.endpoint_source,
        "endpoint_problem": _endpoint_problem(found),
        "delivery": _delivery(found, names),
    }


def _delivery(found: runtime.Settings, names: tuple[str, ...]) -> list[dict[str, Any]]:
    """Per network destination: is delivery paused by an earlier failure, or when it last worked."""
    from visivo.telemetry.sinks.backoff import delivery_status, destination_key
    from visivo.telemetry.sinks.delivery_state import StateStore

    state_dir = runtime.delivery_state_dir(found)
    enabled = found.decision.enabled
    if state_dir is None or not enabled or "http" not in names or not found.endpoint:
        return []
    entries = StateStore(state_dir).load()
    entry = entries.get(destination_key(found.endpoint))
    return [{"endpoint": found.endpoint, **delivery_status(entry, time.time())}]


def _endpoint_problem(found: runtime.Settings) -> str | None:
    from visivo.telemetry.sinks.http import endpoint_problem  # no network code is imported

    if found.endpoint_source == "global" and found.global_settings is not None:
        error = found.global_settings.endpoint_error
        if error is not None:
            return f"{found.global_settings.reading.location}: {error}"
    return endpoint_problem(found.endpoint)


def _describe_source(report: SourceReport) -> str:
    if report.error is not None:
        return f"problem: {report.error} (opts out)"
    if report.value is None:
        if report.location == "environment":
            return "not set"
        return "no telemetry setting" if report.exists else "no file"
    said = json.dumps(report.value)
    return f"{said} (opts out)" if report.opts_out else said


def _render(report: dict[str, Any]) -> str:
    if report["enabled"]:
        lines = ["Telemetry is enabled: no source opts out."]
    else:
        lines = [f"Telemetry is disabled by {report['decided_by']}."]
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
            )
        )
        lines.append(f"  {source['name']:<26} {source['location']:<40} {described}")
    sink = report["sink"]
    if report["sink_problem"]:
        sink += f" ({report['sink_problem']})"
    if not report["enabled"]:
        sink += " (inactive while telemetry is disabled)"
    endpoint = f"{report['endpoint'] or '(none)'} (from {report['endpoint_source']})"
    if report["endpoint_problem"]:
        endpoint += f": {report['endpoint_problem']}; nothing will be sent"
    elif "http" not in report["sink"].split(","):
        endpoint += " (not used by this sink)"
    lines += ["", f"Sink:     {sink}", f"Endpoint: {endpoint}"]
    lines += [f"Delivery: {destination['summary']}" for destination in report["delivery"]]
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
def schema(output_format: str) -> None:
    """Print every field that telemetry can send, generated from the event classes."""
    if output_format == "json":
        click.echo(json.dumps(schema_doc.json_schema(), indent=2, ensure_ascii=False))
    else:
        click.echo(schema_doc.markdown_tables(), nl=False)


def _set(enabled: bool, project: bool, project_dir: Path | None) -> None:
    directory = project_dir if project_dir is not None else Path.cwd()
    home = runtime.home_dir(os.environ)
    if project:
        path = settings.project_config_path(directory)
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
        decision = runtime.read_settings(directory).decision
        if not decision.enabled:
            click.echo(
                f"Telemetry stays disabled: {decision.decided_by} still opts out "
                f"(see `visivo-telemetry status`)."
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
    telemetry.main(args=argv, prog_name="visivo-telemetry")
