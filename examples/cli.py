"""A tiny click CLI instrumented with visivo-telemetry.

Run it from the repository root (see examples/README.md)::

    VISIVO_TELEMETRY_SINK=stdout python examples/cli.py run --jobs 12
"""

from __future__ import annotations

import click

import visivo.telemetry
from visivo.events import current_command
from visivo.telemetry.cli import telemetry
from visivo.telemetry.integrations.click import instrument


@click.group()
@click.version_option("1.0.0", prog_name="example")
def cli() -> None:
    """An example BI-as-code CLI."""


@cli.command()
@click.option("--jobs", type=int, default=4, help="How many jobs to run.")
def run(jobs: int) -> None:
    """Run the project's jobs."""
    current_command().jobs = jobs  # sent as properties.jobs
    click.echo(f"Ran {jobs} jobs.")


@cli.command()
def compile() -> None:
    """Compile the project."""
    counts = {"chart": 3, "trace": 5, "table": 1}
    current_command().object_counts = counts  # sent as properties.object_counts
    click.echo(f"Compiled {sum(counts.values())} objects.")


@cli.command()
@click.option("--target", default="production")
def deploy(target: str) -> None:
    """Deploy the project (always fails here)."""
    raise click.ClickException(f"no credentials for {target}")  # only the type is sent


cli.add_command(telemetry)  # `example telemetry status`, tracked as "telemetry status"


def main() -> None:
    """Start telemetry once, then run the instrumented CLI."""
    visivo.telemetry.start()
    instrument(cli)
    cli(prog_name="example")


if __name__ == "__main__":
    main()
