"""The `instructscale` command. Each stage module adds its commands via `register(app)`;
stage implementations are imported inside the commands so `--help` stays fast."""

from __future__ import annotations

import click
import typer
from typer.core import TyperGroup

from instructscale import __version__
from instructscale.errors import InstructscaleError, os_error_message, validation_message
from instructscale.redact import redact


def _fail(message: str):
    """Print `Error: <message>` as one plain line on stderr and exit 2 (typer's error panel
    would wrap a long message over several boxed lines)."""
    click.echo("Error: " + " ".join(redact(message).split("\n")), err=True)
    return typer.Exit(2)


class _Group(TyperGroup):
    """Errors a user can act on become one line and exit code 2: our own errors, settings
    pydantic rejects, and file-system errors (a folder given as a file, a parent that is a
    file, no permission), which name the path."""

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        _plain_help(self)

    def invoke(self, ctx):
        from pydantic import ValidationError

        try:
            return super().invoke(ctx)
        except InstructscaleError as exc:
            raise _fail(str(exc)) from None
        except ValidationError as exc:
            raise _fail(validation_message(exc)) from None
        except OSError as exc:
            raise _fail(os_error_message(exc)) from None


def _plain_help(command) -> None:
    """Help as written, for every command under `command`: no rich markup (it swallowed every
    `[default: ...]` and `[lmeval]` in help strings) and placeholders a user reads, not Python
    types: `<int>` for `<int range>`, `<path>` for `<list[Path]>` (repeatable options say so),
    `RUN_DIR` for `{run_dir}`."""
    command.rich_markup_mode = None
    for param in command.params:
        if param.metavar is not None or not hasattr(param, "type_descriptor") or param.type_descriptor.is_choice:
            continue
        if param.param_type_name == "argument":
            param.metavar = param.name.upper() + ("..." if param.nargs != 1 else "")
            if param.required:  # typer writes a required argument as {NAME} in the usage line
                param._usage_display_name = lambda name=param.metavar: name
        elif not param.is_flag:
            desc = param.type_descriptor
            label = "path" if desc.is_path else param.bare_type().removeprefix("list[").removesuffix("]")
            param.metavar = f"<{label.lower()}>"
    for sub in getattr(command, "commands", {}).values():
        _plain_help(sub)


app = typer.Typer(
    cls=_Group,
    name="instructscale",
    help="Instruction-data scaling studies: generate, subsets, train, respond, judge, report.",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
    add_completion=False,
)


def _version(value: bool):
    if value:
        typer.echo(f"instructscale {__version__}")
        raise typer.Exit()


@app.callback()
def _root(version: bool = typer.Option(False, "--version", callback=_version, is_eager=True,
                                       help="Print the version and exit.")):
    """Instruction-data scaling studies of LLMs, end to end and reproducible."""


def _register_stages() -> None:
    from instructscale.cli import (benchmark, demo, evalset, export, generate, judge, report, respond, study,
                                   subsets, train)

    for module in (evalset, generate, subsets, train, respond, judge, benchmark, report, study, demo, export):
        module.register(app)


_register_stages()


def main() -> None:
    app()
