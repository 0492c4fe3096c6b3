"""Errors a user can act on. The CLI prints them without a traceback and exits non-zero."""

from __future__ import annotations

from pathlib import Path


class InstructscaleError(Exception):
    """Base class for errors caused by input or configuration, not by a bug."""


class InputError(InstructscaleError):
    """Bad input data, located as precisely as we can: file, line (or row) and field."""

    def __init__(self, message: str, *, path: str | Path | None = None, line: int | None = None,
                 field: str | None = None):
        self.path, self.line, self.field, self.reason = path, line, field, message
        where = []
        if path is not None:
            where.append(str(path))
        if line is not None:
            where.append(f"line {line}")
        if field is not None:
            where.append(f"field '{field}'")
        super().__init__(f"{': '.join([', '.join(where), message]) if where else message}")


class ConfigError(InstructscaleError):
    """An invalid configuration value, detected before any work starts."""


class MissingExtraError(InstructscaleError):
    """An optional dependency is needed for the chosen feature."""


def require_extra(module: str, extra: str, feature: str):
    """Import an optional dependency, or fail with the pip command that installs it."""
    import importlib

    try:
        return importlib.import_module(module)
    except ImportError as exc:
        raise MissingExtraError(
            f"{feature} needs the optional '{extra}' extra: pip install 'instructscale[{extra}]' "
            f"(import of '{module}' failed: {exc})"
        ) from exc
