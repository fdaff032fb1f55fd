"""Command-line entry point. Each command module registers itself on the Typer app; no logic lives here."""

from __future__ import annotations

import importlib
import sys

import typer
from rich.console import Console

from tritonwright import __version__
from tritonwright.errors import UserInputError, one_line

app = typer.Typer(
    name="tritonwright",
    help="Write, check and tune Triton kernels for PyTorch models in the KernelBench format.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)

# Modules that define commands; each exposes register(app). One line per command family.
COMMAND_MODULES: tuple[str, ...] = (
    "tritonwright.eval.cli",
    "tritonwright.prompts.gpus_cli",  # `gpus`: prints prompt headers, so it sits above gpus/ in prompts/
    "tritonwright.prompts.cli",
    "tritonwright.tune.cli",
    "tritonwright.profile.cli",
    "tritonwright.pipeline.cli",
)


def _version(value: bool) -> None:
    if value:
        typer.echo(f"tritonwright {__version__}")
        raise typer.Exit(0)


@app.callback()
def _root(
    version: bool = typer.Option(False, "--version", callback=_version, is_eager=True,
                                 help="Print the version and exit"),
) -> None:
    """Write, check and tune Triton kernels for PyTorch models in the KernelBench format."""


for _name in COMMAND_MODULES:
    importlib.import_module(_name).register(app)


def main() -> None:
    """Run the CLI; user mistakes become one red line and exit code 2, never a traceback. A message that
    carries a traceback (a task's get_inputs() raising in a child) is cut to its file, function and error."""
    try:
        app()
    except UserInputError as exc:
        console = Console(stderr=True)
        console.print("[red]error:[/red] ", end="")
        console.print(one_line(str(exc)), markup=False, highlight=False, soft_wrap=True)
        sys.exit(2)
