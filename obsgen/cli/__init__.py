"""The ``obsgen`` command line: one module per command, registered on one click group."""

from __future__ import annotations

import logging

import click

from obsgen import __version__
from obsgen.cli.build import build_command
from obsgen.cli.recommend import recommend_command
from obsgen.cli.validate import validate_command


@click.group(context_settings={"help_option_names": ["-h", "--help"], "auto_envvar_prefix": "OBSGEN"})
@click.version_option(__version__, prog_name="obsgen")
@click.option("-v", "--verbose", count=True, help="Log more detail to stderr (repeat for debug output).")
def cli(verbose: int) -> None:
    """Generate Prometheus rules and Grafana dashboards for container memory from a service catalog."""
    level = logging.WARNING - 10 * min(verbose, 2)
    logging.basicConfig(level=level, format="obsgen: %(levelname)s: %(message)s")


cli.add_command(build_command)
cli.add_command(validate_command)
cli.add_command(recommend_command)


def main() -> None:
    """Entry point of the ``obsgen`` console script."""
    cli(prog_name="obsgen")
