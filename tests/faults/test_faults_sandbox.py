"""The sandbox of the code-execution scorer, probed the way a hostile answer would: each
probe's tests pass only if its escape worked, so a sandboxed probe must not pass (and
must have run: its tests failed on an assertion, not a crash). Where the escape is
harmless here, the same probe run unsandboxed passes, which shows it can detect a leak.
Plus the time limit (setsid children, daemons), exit tricks, and the refusal to run
code where there is no sandbox."""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
import time
import uuid
from pathlib import Path

import pytest

import instructscale

from instructscale.datafiles import read_records, write_jsonl
from instructscale.judge import JudgeConfig, run_judge, score_reference
from instructscale.judge.code_exec import NOT_RUN, run_tests
from instructscale.judge.sandbox import ALLOW_ENV, sandbox_problem
from instructscale.records import EvalItem, Judgement, Response

from needs import needs_sandbox

SANDBOX = needs_sandbox()  # on every test but the refusal one, which needs no bwrap

TIMEOUT = 20.0  # generous: the machine may be loaded; the timeout tests use their own
ESCAPED = "assert escaped, 'the escape failed'"


def sandboxed(code: str, tests: str = ESCAPED, timeout_s: float = TIMEOUT):
    run = run_tests(code, tests, timeout_s=timeout_s)
    assert run.ran
    return run


def contained(code: str):
    """The probe ran to its test and the escape failed there."""
    run = sandboxed(code)
    assert not run.passed and "AssertionError" in run.detail and "the escape failed" in run.detail, run.detail


@pytest.fixture
def bare(monkeypatch, tmp_path):
    """No bwrap on PATH (the sandbox check sees it missing), code allowed to run unsandboxed."""
    empty = tmp_path / "no-bwrap"
    empty.mkdir()
    monkeypatch.setenv("PATH", str(empty))
    monkeypatch.setenv(ALLOW_ENV, "1")
    sandbox_problem.cache_clear()
    yield
    sandbox_problem.cache_clear()


def unsandboxed(code: str, tests: str = ESCAPED):
    run = run_tests(code, tests, timeout_s=TIMEOUT)
    assert run.ran and "no sandbox" not in run.detail
    return run


# ----------------------------------------------------------------------------- environment

def env_probe(secret: str) -> str:
    return f"""
import glob, os
seen = repr(dict(os.environ))
for path in glob.glob("/proc/*/environ") + [f"/proc/{{os.getppid()}}/environ"]:
    try:
        seen += open(path, "rb").read().decode("latin-1")
    except OSError:
        pass
escaped = {secret!r} in seen
"""


def judge_process_run(code: str, env: dict) -> dict:
    """run_tests in a judge process started with `env`: /proc/<pid>/environ shows a process's
    environment as it was started, so the secret must be there from the start."""
    src = str(Path(instructscale.__file__).parents[1])
    call = ("import json, sys; from instructscale.judge.code_exec import run_tests; "
            f"r = run_tests(sys.stdin.read(), {ESCAPED!r}, timeout_s={TIMEOUT}); print(json.dumps(r.__dict__))")
    out = subprocess.run([sys.executable, "-c", call], input=code, capture_output=True, text=True, check=True,
                         env={**env, "PYTHONPATH": src}, timeout=TIMEOUT * 3)
    return json.loads(out.stdout.splitlines()[-1])


@SANDBOX
def test_the_parents_environment_is_not_visible():
    secret = f"sk-sandbox-{uuid.uuid4().hex}"
    run = judge_process_run(env_probe(secret), {"PATH": os.environ["PATH"], "OPENAI_API_KEY": secret})
    assert run["ran"] and not run["passed"] and "the escape failed" in run["detail"], run


@SANDBOX
def test_control_unsandboxed_the_env_probe_finds_the_parents_secret(tmp_path):
    secret = f"sk-sandbox-{uuid.uuid4().hex}"
    run = judge_process_run(env_probe(secret), {"PATH": str(tmp_path), "OPENAI_API_KEY": secret, ALLOW_ENV: "1"})
    assert run["ran"] and run["passed"] and "no sandbox" not in run["detail"], run


# ----------------------------------------------------------------------------- files

def files_probe(targets: list[str], victim: str) -> str:
    return f"""
import os
escaped = False
for path in {targets!r}:
    try:
        with open(path, "w") as f:
            f.write("pwned")
        escaped = True
    except OSError:
        pass
try:
    os.remove({victim!r})
    escaped = True
except OSError:
    pass
with open("scratch.txt", "w") as f:  # the scratch directory is writable
    f.write("ok")
assert open("scratch.txt").read() == "ok"
"""


def host_files(tmp_path):
    target, victim = tmp_path / "host.txt", tmp_path / "victim.txt"
    target.write_text("original")
    victim.write_text("keep me")
    return target, victim


@SANDBOX
def test_no_write_or_delete_outside_the_scratch_dir(tmp_path):
    target, victim = host_files(tmp_path)
    visible_read_only = [os.path.join(sys.prefix, f"probe-{uuid.uuid4().hex}"), f"/usr/probe-{uuid.uuid4().hex}"]
    contained(files_probe([str(target), *visible_read_only, "/etc/probe"], str(victim)))
    assert target.read_text() == "original" and victim.read_text() == "keep me"
    assert not any(os.path.exists(p) for p in visible_read_only)


@SANDBOX
def test_control_unsandboxed_the_files_probe_damages_host_files(tmp_path, bare):
    target, victim = host_files(tmp_path)
    assert unsandboxed(files_probe([str(target)], str(victim))).passed
    assert target.read_text() == "pwned" and not victim.exists()


# ----------------------------------------------------------------------------- network

def network_probe(port: int) -> str:
    return f"""
import socket
try:
    socket.create_connection(("127.0.0.1", {port}), timeout=3).close()
    escaped = True
except OSError:
    escaped = False
"""


@pytest.fixture
def listener():
    srv = socket.socket()
    srv.bind(("127.0.0.1", 0))
    srv.listen(4)
    srv.settimeout(0.5)
    yield srv
    srv.close()


def accepted(srv) -> bool:
    try:
        srv.accept()[0].close()
        return True
    except TimeoutError:
        return False


@SANDBOX
def test_no_connection_to_a_listening_local_port(listener):
    contained(network_probe(listener.getsockname()[1]))
    assert not accepted(listener)


@SANDBOX
def test_control_unsandboxed_the_network_probe_connects(listener, bare):
    assert unsandboxed(network_probe(listener.getsockname()[1])).passed
    assert accepted(listener)


# ----------------------------------------------------------------------------- processes

def process_probe(pid: int) -> str:
    return f"""
import os
cmdlines = []
for name in os.listdir("/proc"):
    if name.isdigit():
        try:
            cmdlines.append(open(f"/proc/{{name}}/cmdline", "rb").read())
        except OSError:
            pass
try:
    os.kill({pid}, 0)
    signalled = True
except OSError:
    signalled = False
escaped = signalled or any(b"pytest" in c for c in cmdlines)
"""


@SANDBOX
def test_the_callers_processes_are_not_visible():
    contained(process_probe(os.getpid()))


@SANDBOX
def test_control_unsandboxed_the_process_probe_sees_the_caller(bare):
    assert unsandboxed(process_probe(os.getpid())).passed


@SANDBOX
def test_code_runs_as_an_unprivileged_user():
    contained("import os\nescaped = os.getuid() == 0 or os.geteuid() == 0")


# ----------------------------------------------------------------------------- limits

@SANDBOX
@pytest.mark.parametrize("code,error", [
    ("x = bytearray(300 * 2**20)", "MemoryError"),
    ("open('big', 'wb').write(b'0' * 32 * 2**20)", "File too large"),
    ("import threading, time\nfor _ in range(200):\n"
     "    threading.Thread(target=time.sleep, args=(5,), daemon=True).start()",
     "thread"),
])
def test_memory_file_size_and_process_limits(code, error):
    run = sandboxed(code, "pass")
    assert not run.passed and error in run.detail, run.detail


@SANDBOX
def test_small_allocations_files_and_threads_still_work():
    code = ("import threading\nx = bytearray(20 * 2**20)\nopen('f', 'wb').write(b'0' * 2**20)\n"
            "t = [threading.Thread(target=len, args=('a',)) for _ in range(8)]\n[s.start() for s in t]\n"
            "[s.join() for s in t]")
    assert sandboxed(code, "pass").passed


@SANDBOX
def test_limits_are_set_and_cannot_be_raised():
    code = """
import resource
names = ("RLIMIT_AS", "RLIMIT_CPU", "RLIMIT_FSIZE", "RLIMIT_NPROC")
limits = {n: resource.getrlimit(getattr(resource, n)) for n in names}
try:
    resource.setrlimit(resource.RLIMIT_CPU, (resource.RLIM_INFINITY, resource.RLIM_INFINITY))
    raised = True
except (ValueError, OSError):
    raised = False
"""
    tests = ("assert not raised\nassert limits['RLIMIT_CPU'][1] <= 6\n"
             "assert all(0 < hard != resource.RLIM_INFINITY for _, hard in limits.values())")
    assert sandboxed(code, tests, timeout_s=5).passed


# ----------------------------------------------------------------------------- time limit

def running(marker: str) -> list[int]:
    pids = []
    for name in os.listdir("/proc"):
        try:
            if name.isdigit() and marker.encode() in open(f"/proc/{name}/cmdline", "rb").read():
                pids.append(int(name))
        except OSError:
            pass
    return pids


def gone(marker: str, within_s: float = 10.0) -> bool:
    end = time.monotonic() + within_s
    while running(marker) and time.monotonic() < end:
        time.sleep(0.2)
    return not running(marker)


SETSID_CHILD = """
import subprocess, sys
subprocess.Popen([sys.executable, "-c", "import time; time.sleep(120)", {marker!r}], start_new_session=True)
"""
DAEMON = """
import os, sys, time
if os.fork() == 0:
    os.setsid()
    if os.fork() == 0:
        os.closerange(0, 1024)
        os.execv(sys.executable, [sys.executable, "-c", "import time; time.sleep(120)", {marker!r}])
    os._exit(0)
"""


@SANDBOX
@pytest.mark.parametrize("probe", [SETSID_CHILD, DAEMON], ids=["setsid-child", "daemon"])
@pytest.mark.parametrize("hang", [False, True], ids=["code-ends", "code-hangs"])
def test_nothing_outlives_or_blocks_the_judge(probe, hang):
    marker = f"instructscale-probe-{uuid.uuid4().hex}"
    code = probe.format(marker=marker) + ("time.sleep(120)\n" if hang else "")
    t = time.monotonic()
    run = run_tests("import time\n" + code, "pass", timeout_s=3.0)
    elapsed = time.monotonic() - t
    assert elapsed < 3.0 + 15, elapsed  # the limit plus a margin for a loaded machine, not 120 s
    assert run.passed is not hang and ("time limit" in run.detail) is hang, run.detail
    assert gone(marker), f"still running: {running(marker)}"


# ----------------------------------------------------------------------------- exit tricks

WRONG = "def add(a, b):\n    return a - b\n"
TESTS = "assert add(1, 2) == 3\nassert add(2, 2) == 4"


@SANDBOX
@pytest.mark.parametrize("trick", [
    "import sys\nsys.exit(0)",
    "import os\nos._exit(0)",
    "raise SystemExit(0)",
    "import os\ndef add(a, b):\n    os._exit(0)",  # exits inside the tests
    "def add(a, b):\n    raise SystemExit(0)",
    "import atexit, os\natexit.register(lambda: os._exit(0))",
    "import builtins\nbuiltins.exec = lambda *a, **k: None",  # the tests would never run
    "import os, sys\nsys.exit = os._exit = lambda *a: None\nsys.excepthook = lambda *a: None",
    "import sys\nsys.settrace(lambda *a: None)",
    "print('tests passed')\nimport os, sys\nsys.stdout.flush()\nos._exit(0)",
    "import os\nfor fd in range(3, 64):\n    try:\n        os.write(fd, b'pass')\n    except OSError:\n        pass\n"
    "os._exit(0)",
    "import threading, os, time\nthreading.Thread(target=lambda: (time.sleep(0.2), os._exit(0))).start()\n"
    "time.sleep(5)",
], ids=["sys.exit", "os._exit", "SystemExit", "exit-in-tests", "SystemExit-in-tests", "atexit", "patch-exec",
        "patch-exit", "settrace", "fake-verdict", "write-fds", "thread-exit"])
def test_exit_tricks_do_not_pass(trick):
    run = sandboxed(WRONG + trick, TESTS)
    assert not run.passed, run.detail


@SANDBOX
def test_a_correct_solution_still_passes():
    code = ("import subprocess, sys\n"
            "def add(a, b):\n    return a + b\n"
            "print('demo', add(1, 2))\n"
            "open('notes.txt', 'w').write('scratch')\n"
            "assert subprocess.run([sys.executable, '-c', 'print(1)'], capture_output=True).stdout == b'1\\n'\n")
    run = sandboxed(code, TESTS)
    assert run.passed and run.detail == "tests passed"


# ----------------------------------------------------------------------------- no sandbox

CODE_ITEM = EvalItem(id="c1", category="code", question="写一个 add 函数", reference=None,
                     meta={"tests": "assert add(1, 2) == 3"})


def test_without_a_sandbox_code_is_not_run_unless_allowed(monkeypatch, tmp_path, bare):
    monkeypatch.delenv(ALLOW_ENV)
    flag = tmp_path / "ran"
    answer = f"```python\nopen({str(flag)!r}, 'w').write('x')\ndef add(a, b):\n    return a + b\n```"
    run = run_tests(answer, "assert add(1, 2) == 3")
    assert not run.ran and not run.passed and "bubblewrap" in run.detail and ALLOW_ENV in run.detail
    assert score_reference(CODE_ITEM, answer) == (None, run.detail)
    assert not flag.exists()
    monkeypatch.setenv(ALLOW_ENV, "1")  # the user's explicit permission
    assert score_reference(CODE_ITEM, answer) == (1.0, None) and flag.exists()


@SANDBOX
def test_a_judge_run_without_a_sandbox_leaves_code_unscored_and_redoes_it_later(monkeypatch, tmp_path):
    eval_path, resp_path, out = tmp_path / "eval.jsonl", tmp_path / "responses.jsonl", tmp_path / "judgements.jsonl"
    write_jsonl(eval_path, [CODE_ITEM])
    write_jsonl(resp_path, [Response(item_id="c1", model="m", response="def add(a, b):\n    return a + b")])
    cfg = JudgeConfig(eval=eval_path, responses=[resp_path], out=out, scorer="reference")
    monkeypatch.setenv("PATH", str(tmp_path))  # no bwrap here
    monkeypatch.delenv(ALLOW_ENV, raising=False)
    sandbox_problem.cache_clear()
    try:
        first = run_judge(cfg)
    finally:
        monkeypatch.undo()
        sandbox_problem.cache_clear()
    [j] = read_records(out, Judgement)
    assert j.score is None and j.error.startswith(NOT_RUN) and first.unscored == 1
    assert "1 code items not run" in first.incomplete
    again = run_judge(cfg)  # bwrap is back: the item is run now
    assert again.new == 1 and again.unscored == 0 and again.incomplete is None
    assert [j.score for j in read_records(out, Judgement)] == [1.0]


@SANDBOX
def test_a_sandbox_that_fails_to_start_is_not_a_zero(monkeypatch, tmp_path):
    """Told apart by the harness's start message, which the code cannot write: a broken start
    is `code not run` (redone next run), while code that dies at once is scored 0 (the exit
    tricks above all ran)."""
    broken = tmp_path / "harness.py"
    broken.write_text("import sys\nsys.stderr.write('cannot start\\n')\nsys.exit(3)\n")
    monkeypatch.setattr("instructscale.judge.code_exec.HARNESS", broken)
    run = run_tests("def add(a, b):\n    return a + b\n", TESTS)
    assert not run.ran and run.detail.startswith(NOT_RUN) and "cannot start" in run.detail


@SANDBOX
def test_an_interpreter_installed_under_tmp_is_not_hidden_by_the_sandboxs_own_tmp(tmp_path):
    """A checkout or venv under /tmp (a CI clone, a scratch setup) must stay visible inside,
    where /tmp is a fresh tmpfs."""
    from instructscale.judge.sandbox import CHILD_ENV, bwrap_prefix

    assert str(tmp_path).startswith("/tmp/")
    venv = tmp_path / "venv"
    subprocess.run([sys.executable, "-m", "venv", "--without-pip", str(venv)], check=True, timeout=120)
    python = venv / "bin" / "python"
    run = subprocess.run([*bwrap_prefix([str(venv), os.path.realpath(sys.base_prefix)]), str(python), "-I", "-c",
                          "import sys, os; print(sys.prefix, os.listdir('/tmp'))"],
                         capture_output=True, text=True, env=CHILD_ENV, timeout=60, stdin=subprocess.DEVNULL)
    assert run.returncode == 0, run.stderr
    assert run.stdout.split()[0] == str(venv)
