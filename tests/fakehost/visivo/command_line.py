"""The host's CLI: a root click group named ``visivo`` with our ``telemetry`` group mounted.

The root group is named ``visivo`` in this module, so ``import visivo.telemetry`` (which
binds the name ``visivo`` to the package) would be overwritten by it: take the modules
with ``from visivo import telemetry``, and mount our group under another variable name.
"""

from __future__ import annotations

import click

from visivo import telemetry
from visivo.events import current_command
from visivo.models import object_counts
from visivo.telemetry.cli import telemetry as telemetry_group
from visivo.telemetry.integrations.click import instrument


@click.group()
def visivo() -> None:
    """A stand-in for Visivo."""


@visivo.command()
@click.option("-w", "--working-dir", default=".", help="The project directory.")
def run(working_dir: str) -> None:
    """Run the project's jobs."""
    current_command().jobs = 3
    click.echo("ran")


@visivo.command()
def compile() -> None:
    """Compile the project."""
    current_command().object_counts = object_counts(["chart", "chart", "trace"])


@visivo.command()
def serve() -> None:
    """Answer one API request (with Flask's test client) and stop."""
    from visivo.server import create_app

    with create_app().test_client() as client:
        click.echo(client.get("/api/project/7").status_code)


visivo.add_command(telemetry_group)


def main() -> None:
    """The ``visivo`` console script."""
    telemetry.start(command_name="visivo telemetry")
    instrument(visivo, project_dir_option="working_dir")
    visivo()
