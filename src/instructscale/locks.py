"""An exclusive lock on an output file or a run directory for the length of a run.

Two processes appending to one results file double the requests and leave duplicate
keys; the second one must fail at once and say who holds the file. The lock is
`fcntl.flock` on a side file (`<file>.lock`, or `<dir>/.instructscale.lock`) that
holds the holder's PID; the kernel releases it when the holder exits, even after
`kill -9`, so a stale side file never blocks a later run. The side file is removed on
release (the inode check on acquire makes that race-free).
"""

from __future__ import annotations

import contextlib
import fcntl
import os
from collections.abc import Iterator
from pathlib import Path

from instructscale.errors import InstructscaleError


class LockedError(InstructscaleError):
    """Another process is writing the same output."""


def lock_path(target: str | Path) -> Path:
    p = Path(target)
    return p / ".instructscale.lock" if p.is_dir() else p.with_name(p.name + ".lock")


@contextlib.contextmanager
def exclusive(target: str | Path, what: str = "output") -> Iterator[Path]:
    """Hold an exclusive lock on `target` (a file or directory) while the block runs."""
    path = lock_path(target)
    path.parent.mkdir(parents=True, exist_ok=True)
    while True:
        fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o644)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            holder = os.read(fd, 64).decode("ascii", "replace").strip() or "unknown"
            os.close(fd)
            raise LockedError(f"{target}: {what} is in use by another instructscale process (PID {holder}); "
                              "wait for it to finish or stop it") from None
        try:
            same = os.fstat(fd).st_ino == os.stat(path).st_ino
        except FileNotFoundError:  # the previous holder removed it between our open and lock
            same = False
        if same:
            break
        os.close(fd)
    try:
        os.ftruncate(fd, 0)
        os.write(fd, f"{os.getpid()}\n".encode("ascii"))
        yield path
    finally:
        path.unlink(missing_ok=True)
        os.close(fd)


def holder(target: str | Path) -> str | None:
    """The PID of the process that holds `target`'s lock now, or None when nobody does
    (e.g. a report that reads a file a judge is still appending to)."""
    path = lock_path(target)
    try:
        fd = os.open(path, os.O_RDONLY)
    except FileNotFoundError:
        return None
    try:
        fcntl.flock(fd, fcntl.LOCK_SH | fcntl.LOCK_NB)
    except BlockingIOError:
        return os.read(fd, 64).decode("ascii", "replace").strip() or "unknown"
    finally:
        os.close(fd)  # also releases the shared lock taken when nobody held it
    return None
