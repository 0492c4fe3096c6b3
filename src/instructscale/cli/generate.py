"""CLI for the generate stage (being written)."""

import typer


def register(app: typer.Typer) -> None:
    """Add this stage's commands to the main app."""
