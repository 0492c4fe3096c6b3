"""Thin typer layer over the stage entry points; one module per stage."""
