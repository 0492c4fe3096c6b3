"""Running untrusted commands (model-written code) in a bubblewrap sandbox (docs/judge.md).

The sandbox has its own PID, network, IPC, UTS and cgroup namespaces: no view of the
caller's processes or their `/proc/<pid>/environ`, no network but an unconnected
loopback, an environment of PATH and LANG only. The file system is the system's `/usr`
and the Python installation, read-only, a fresh `/proc` and `/dev`, and a small tmpfs
`/tmp` as the only writable place. The command runs as `nobody` (as root: via setpriv,
so that kernel limits such as RLIMIT_NPROC apply). At the time limit bwrap is killed,
and with it (its PID 1 dies, `--die-with-parent`) everything the code started, setsid
children and daemons included. Output goes to files, not pipes, so nothing left holding
a descriptor can block the caller.
"""

from __future__ import annotations

import functools
import os
import select
import shutil
import signal
import subprocess
import sys
import tempfile
from dataclasses import dataclass
from pathlib import Path

ALLOW_ENV = "INSTRUCTSCALE_ALLOW_UNSANDBOXED_CODE"  # "1": run code without a sandbox (unsafe)
CHILD_ENV = {"PATH": "/usr/local/bin:/usr/bin:/bin", "LANG": "C.UTF-8"}
NOBODY = 65534
TMP_BYTES = 64 * 2**20  # the sandbox's only writable place
OUTPUT_CHARS = 4000  # of stdout / stderr kept for the caller
STARTUP_S = 60.0  # for the sandbox and the interpreter to start, before the time limit runs


@dataclass(frozen=True)
class Finished:
    returncode: int | None  # None: killed at the time limit
    stdout: str
    stderr: str

    @property
    def timed_out(self) -> bool:
        return self.returncode is None


def unsandboxed_allowed() -> bool:
    return os.environ.get(ALLOW_ENV) == "1"


def _python_paths() -> list[str]:
    """What the interpreter needs besides /usr: its installation and the virtual environment."""
    paths = {os.path.realpath(p) for p in (sys.base_prefix, sys.prefix)}
    paths.add(os.path.dirname(os.path.dirname(os.path.realpath(sys.executable))))
    return sorted(p for p in paths if p != "/usr" and not p.startswith("/usr/"))


def bwrap_prefix(ro_paths: list[str]) -> list[str]:
    """The bwrap command line that runs what follows it in the sandbox."""
    args = [shutil.which("bwrap") or "bwrap", "--die-with-parent", "--new-session", "--unshare-ipc", "--unshare-pid",
            "--unshare-net", "--unshare-uts", "--unshare-cgroup-try", "--hostname", "sandbox", "--ro-bind", "/usr", "/usr"]
    for top in ("bin", "lib", "lib32", "lib64", "libx32", "sbin"):
        host = Path("/", top)
        if host.is_symlink():
            args += ["--symlink", os.readlink(host), str(host)]
        elif host.is_dir():
            args += ["--ro-bind", str(host), str(host)]
    # the fresh /tmp first, so an installation or venv under /tmp is bound on top of it, not hidden by it
    args += ["--proc", "/proc", "--dev", "/dev", "--perms", "1777", "--size", str(TMP_BYTES), "--tmpfs", "/tmp"]
    made = set()
    for path in ro_paths:
        # parents bwrap would create with the host's modes (/root: 0700) are made traversable
        for parent in reversed(Path(path).parents[:-1]):
            if parent not in made:
                made.add(parent)
                args += ["--perms", "0755", "--dir", str(parent)]
        args += ["--ro-bind", path, path]
    args += ["--chdir", "/tmp"]
    if os.geteuid() == 0:  # a user namespace would map nobody to root outside: drop to the real nobody
        return args + ["--", "setpriv", f"--reuid={NOBODY}", f"--regid={NOBODY}", "--clear-groups",
                       "--inh-caps=-all", "--bounding-set=-all", "--no-new-privs", "--"]
    return args + ["--unshare-user", "--uid", str(NOBODY), "--gid", str(NOBODY), "--disable-userns", "--"]


@functools.cache
def sandbox_problem() -> str | None:
    """Why no sandbox can be made here (bwrap missing or refused by the kernel), or None."""
    if shutil.which("bwrap") is None:
        return "bwrap is not installed (Debian/Ubuntu: apt-get install bubblewrap)"
    if os.geteuid() == 0 and shutil.which("setpriv") is None:
        return "setpriv (util-linux) is needed to run sandboxed code as nobody"
    try:
        probe = subprocess.run([*bwrap_prefix(_python_paths()), sys.executable, "-I", "-c", "pass"],
                               capture_output=True, env=CHILD_ENV, timeout=30, stdin=subprocess.DEVNULL)
    except (OSError, subprocess.TimeoutExpired) as e:
        return f"bubblewrap failed to start: {e}"
    if probe.returncode:
        err = probe.stderr.decode("utf-8", "replace").strip().splitlines()[-1:] or [f"exit {probe.returncode}"]
        return f"bubblewrap cannot make a sandbox here: {err[0]}"
    return None


def run_command(argv: list[str], *, stdin: int | None, pass_fds: tuple[int, ...], ready_fd: int, timeout_s: float,
                sandboxed: bool) -> Finished:
    """Run argv (sandboxed, or bare in a temporary directory when the user allowed it),
    killing it and everything it started `timeout_s` after it wrote to `ready_fd` (the
    interpreter's start-up, slow on a loaded machine, is not the code's time). `pass_fds`
    go to the child and are closed here."""
    with tempfile.TemporaryDirectory(prefix="instructscale-code-") as tmp, \
            tempfile.TemporaryFile() as out, tempfile.TemporaryFile() as err:
        cmd = [*bwrap_prefix(_python_paths()), *argv] if sandboxed else argv
        try:
            proc = subprocess.Popen(cmd, cwd=tmp, stdin=subprocess.DEVNULL if stdin is None else stdin, stdout=out,
                                    stderr=err, pass_fds=pass_fds, env=CHILD_ENV, start_new_session=True)
        finally:
            for fd in pass_fds:
                os.close(fd)
        # readable: the child wrote, or it is gone (no writer left)
        started = bool(select.select([ready_fd], [], [], STARTUP_S)[0])
        try:
            code: int | None = proc.wait(timeout=timeout_s if started else 0)
        except subprocess.TimeoutExpired:
            code = None
        if code is None or not sandboxed:  # bare: what it left in its process group goes too
            try:
                os.killpg(proc.pid, signal.SIGKILL)
            except ProcessLookupError:
                pass
            proc.wait()
        return Finished(code, _tail(out), _tail(err))


def _tail(f) -> str:
    f.seek(0, os.SEEK_END)
    f.seek(max(0, f.tell() - OUTPUT_CHARS))
    return f.read().decode("utf-8", "replace")
