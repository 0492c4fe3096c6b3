"""One place for terminal output: a stderr console for progress and messages, and a
progress-bar factory every long-running stage uses (not a terminal: plain lines instead,
instructscale/progress.py)."""

from __future__ import annotations

from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, TextColumn, TimeElapsedColumn, TimeRemainingColumn

from instructscale.progress import LoggedProgress

console = Console(stderr=True)
stdout = Console()


def progress(*extra_columns, transient: bool = False) -> LoggedProgress:
    """A rich progress bar: description, bar, done/total, elapsed, ETA, then any extra columns
    (e.g. TextColumn("{task.fields[kept]} kept"))."""
    return LoggedProgress(
        TextColumn("[bold]{task.description}"), BarColumn(), MofNCompleteColumn(),
        TimeElapsedColumn(), TimeRemainingColumn(), *extra_columns,
        console=console, transient=transient, disable=not console.is_terminal and not _force(),
    )


def _force() -> bool:
    import os

    return os.environ.get("INSTRUCTSCALE_PROGRESS") == "1"
