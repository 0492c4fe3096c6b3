"""Progress without a terminal: every stage's bar (console.progress) writes plain lines."""

from __future__ import annotations

import subprocess
import sys
import textwrap
from pathlib import Path


def test_a_bar_without_a_terminal_writes_plain_lines_with_done_total_rate_and_eta(tmp_path):
    script = textwrap.dedent("""
        import time
        from instructscale.console import progress
        with progress() as bar:
            task = bar.add_task("judge (x)", total=40, failed=0)
            for i in range(40):
                time.sleep(0.02)
                bar.update(task, advance=1, failed=i // 10)
    """)
    env = {"INSTRUCTSCALE_PROGRESS_EVERY": "0.2", "PYTHONPATH": str(Path(__file__).resolve().parents[2] / "src"), "PATH": "/usr/bin:/bin"}
    out = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, env=env, timeout=120)
    lines = out.stderr.splitlines()
    assert out.returncode == 0 and len(lines) >= 3, out.stderr  # first update, a few in between, the end
    assert lines[0].startswith("judge (x): 1/40 (2.5%)")
    assert lines[-1].startswith("judge (x): 40/40 (100.0%), ") and lines[-1].endswith("failed 3")
    middle = lines[1]
    assert "/s, ETA " in middle and "\x1b" not in out.stderr  # rate and time left, no terminal codes
