"""Progress that a log file can hold: every long stage's bar (console.progress) also writes
one plain line per task every few seconds when stderr is not a terminal (a batch job, a
log file), and into the study's log file while `study run` keeps one.

A line: `generate: 120/2000 (6.0%), 3.2/s, ETA 9m47s, kept 120, failed 0`. The interval
is INSTRUCTSCALE_PROGRESS_EVERY seconds (default 30); a task's first update and its end
are always written.
"""

from __future__ import annotations

import contextlib
import os
import re
import time
from pathlib import Path
from typing import TextIO

from rich.console import Console
from rich.progress import Progress, TaskID

DEFAULT_EVERY_S = 30.0
_ANSI = re.compile(r"\x1b\[[0-9;?]*[A-Za-z]")
_CURSOR = re.compile(r"\x1b\[[0-9]*[ABKJ]|\x1b\[\?25[lh]")  # a live display redrawing itself
_log: TextIO | None = None  # the study's log file, while one is open


def every_s() -> float:
    return float(os.environ.get("INSTRUCTSCALE_PROGRESS_EVERY") or DEFAULT_EVERY_S)


class LoggedProgress(Progress):
    """A rich Progress that also logs plain lines: to the console when the bar is disabled
    (not a terminal), to the study log when the bar is shown."""

    def __init__(self, *columns, **kwargs):
        super().__init__(*columns, **kwargs)
        self._last: dict[TaskID, float] = {}
        self._started: dict[TaskID, tuple[float, float]] = {}  # task -> (time, completed) at its first update

    def update(self, task_id: TaskID, **kwargs) -> None:
        super().update(task_id, **kwargs)
        self._maybe_log(task_id)

    def advance(self, task_id: TaskID, advance: float = 1) -> None:
        super().advance(task_id, advance)
        self._maybe_log(task_id)

    def stop(self) -> None:
        for task_id in list(self._started):
            self._emit(task_id)
        self._started.clear()
        super().stop()

    def _maybe_log(self, task_id: TaskID) -> None:
        if not self.disable and _log is None:
            return
        now = time.monotonic()
        if task_id not in self._started:
            self._started[task_id] = (now, self._tasks[task_id].completed)
        elif now - self._last.get(task_id, 0.0) < every_s():
            return
        self._emit(task_id, now)

    def _emit(self, task_id: TaskID, now: float | None = None) -> None:
        now = time.monotonic() if now is None else now
        self._last[task_id] = now
        line = plain_line(self._tasks[task_id], *self._started.get(task_id, (now, 0.0)), now)
        if self.disable:
            self.console.print(line, markup=False, highlight=False, soft_wrap=True)
        elif _log is not None:
            _log.write(line + "\n")
            _log.flush()


def plain_line(task, t0: float, done0: float, now: float) -> str:
    """`desc: done/total (pct), rate/s, ETA, field value, ...` for one task."""
    done, total = task.completed, task.total
    parts = [f"{task.description}: {done:g}" + (f"/{total:g} ({done / total:.1%})" if total else "")]
    elapsed = now - t0
    rate = (done - done0) / elapsed if elapsed > 0 else 0.0
    if rate > 0:
        parts.append(f"{rate:.3g}/s")
        if total and done < total:
            parts.append(f"ETA {_duration((total - done) / rate)}")
    parts.extend(f"{name} {value}" for name, value in task.fields.items())
    return ", ".join(parts)


def _duration(seconds: float) -> str:
    seconds = int(seconds)
    days, rest = divmod(seconds, 86400)
    hours, rest = divmod(rest, 3600)
    minutes, secs = divmod(rest, 60)
    if days:
        return f"{days}d{hours:02d}h"
    return f"{hours}h{minutes:02d}m" if hours else f"{minutes}m{secs:02d}s"


class _Tee:
    """The console's stream, copied into the log file as plain text; a live bar's redraws
    stay on the terminal (its progress reaches the log as plain lines instead)."""

    def __init__(self, stream, log: TextIO):
        self.stream, self.log = stream, log

    def write(self, text: str) -> int:
        if not _CURSOR.search(text):
            self.log.write(_ANSI.sub("", text))
            self.log.flush()
        return self.stream.write(text)

    def flush(self) -> None:
        self.stream.flush()

    def isatty(self) -> bool:
        return self.stream.isatty()

    def fileno(self) -> int:
        return self.stream.fileno()

    def __getattr__(self, name):
        return getattr(self.stream, name)


@contextlib.contextmanager
def log_to(console: Console, path: Path):
    """While the block runs, everything `console` prints, and every progress line, is also
    appended to `path`."""
    global _log
    path.parent.mkdir(parents=True, exist_ok=True)
    original = console._file  # None: the console follows whatever sys.stderr is (tests swap it)
    with open(path, "a", encoding="utf-8") as f:
        console.file, _log = _Tee(console.file, f), f
        try:
            yield path
        finally:
            console._file, _log = original, None
