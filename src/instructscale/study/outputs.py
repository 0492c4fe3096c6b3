"""What a finished unit wrote, recorded in its manifest and checked before it counts as done.

A unit's manifest used to say `done` whatever happened to its files later: a truncated
`model.safetensors` stayed done, and the next respond crashed loading it. Now every file a
unit wrote (each file of an output folder) is recorded with its size and a sha256: of the
whole file when it is small, of its first and last MiB when it is big (a model's weights),
so checking a study costs little. Files added to an output folder later are not checked.
"""

from __future__ import annotations

import hashlib
from pathlib import Path
from typing import Any

WHOLE_FILE_BYTES = 8 << 20  # files up to this size are hashed whole
BLOCK = 1 << 20  # bigger ones: their first and last MiB


def file_digest(path: Path, size: int) -> str:
    h = hashlib.sha256()
    with path.open("rb") as f:
        if size <= WHOLE_FILE_BYTES:
            for block in iter(lambda: f.read(BLOCK), b""):
                h.update(block)
        else:
            h.update(f.read(BLOCK))
            f.seek(size - BLOCK)
            h.update(f.read(BLOCK))
    return h.hexdigest()


def _files(path: Path) -> list[Path]:
    if path.is_dir():
        return sorted(p for p in path.rglob("*") if p.is_file() and not p.is_symlink())
    return [path] if path.is_file() else []


def record_outputs(paths: list[Path], run_dir: Path) -> dict[str, dict[str, Any]]:
    """File -> {size, sha256} for every file of the unit's outputs (folders walked); a file
    in the run directory is named relative to it, so a copied run directory checks its own."""
    out = {}
    for root in paths:
        for f in _files(Path(root)):
            size = f.stat().st_size
            name = f.relative_to(run_dir).as_posix() if f.is_relative_to(run_dir) else str(f)
            out[name] = {"size": size, "sha256": file_digest(f, size)}
    return out


def damage(recorded: dict[str, dict[str, Any]], run_dir: Path) -> str | None:
    """Why the recorded outputs are no longer what the unit wrote (the first damaged file),
    or None when every one is intact."""
    for name, want in recorded.items():
        f = run_dir / name  # an absolute name stays itself
        if not f.is_file():
            return f"{name} is missing"
        size = f.stat().st_size
        if size != want["size"]:
            return f"{name} has {size} bytes, the unit wrote {want['size']}"
        if file_digest(f, size) != want["sha256"]:
            return f"{name} changed since the unit wrote it"
    return None
