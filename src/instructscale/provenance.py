"""What made a result: package versions and git commits, recorded in unit manifests and in a
study's results.json (as lm-evaluation-harness records them in its results file)."""

from __future__ import annotations

import subprocess
from pathlib import Path

from instructscale import __version__

PACKAGES = ("torch", "transformers", "trl", "peft", "datasets", "openai")


def package_versions() -> dict[str, str]:
    import importlib.metadata as md

    out = {"instructscale": __version__}
    for pkg in PACKAGES:
        try:
            out[pkg] = md.version(pkg)
        except md.PackageNotFoundError:
            pass
    return out


def git_commits() -> dict[str, str]:
    """The commit of instructscale's own checkout and of the working directory's repository
    (where the study's configs usually live), for those that are git repositories."""
    out = {}
    for name, folder in (("instructscale", Path(__file__).resolve().parent), ("working_directory", Path.cwd())):
        try:
            res = subprocess.run(["git", "-C", str(folder), "rev-parse", "HEAD"], capture_output=True, text=True,
                                 timeout=10)
        except (OSError, subprocess.TimeoutExpired):
            continue
        if res.returncode == 0 and res.stdout.strip():
            out[name] = res.stdout.strip()
    return out
