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


def validation_message(exc, prefix: str = "") -> str:
    """One line for a pydantic ValidationError: the first error's dotted key and message
    (pydantic's own text spans several lines and repeats the input)."""
    err = exc.errors()[0]
    loc = ".".join(str(x) for x in (*([prefix] if prefix else []), *err["loc"]))
    msg = "unknown key" if err["type"] == "extra_forbidden" else err["msg"].removeprefix("Value error, ")
    more = f" (and {exc.error_count() - 1} more)" if exc.error_count() > 1 else ""
    return f"{loc}: {msg}{more}" if loc else f"{msg}{more}"


_OS_REASONS = {
    IsADirectoryError: "is a folder, expected a file",
    NotADirectoryError: "a part of this path is a file, not a folder",
    FileExistsError: "already exists and is not a folder (or a part of the path is a file)",
    PermissionError: "permission denied",
    FileNotFoundError: "no such file or folder",
}


def os_error_message(exc: OSError) -> str:
    """One line for a file-system error, naming the path it is about."""
    reason = next((text for kind, text in _OS_REASONS.items() if isinstance(exc, kind)), None)
    reason = reason or (exc.strerror or str(exc)).lower()
    where = exc.filename if exc.filename is not None else None
    if exc.filename2 is not None:
        where = f"{exc.filename} -> {exc.filename2}"
    return f"{where}: {reason}" if where is not None else reason


def first_line(exc: BaseException) -> str:
    """An exception's text as one line (its first), or its type name when it has none:
    library errors (transformers, safetensors) often span many lines."""
    text = str(exc).strip()
    return text.splitlines()[0] if text else type(exc).__name__
