"""Runs an answer's code and an item's tests inside the sandbox (standard library only: it is
passed to `python -I -c`).

argv: the nonce pipe's fd, the result pipe's fd, the limits as JSON; stdin: the task as
JSON ({"code", "tests"}). It writes `<nonce> start` before the code runs (so a sandbox
that failed is told from code that failed), and the tests count as passed only when it
wrote `<nonce> pass` after the last test statement ran: the nonce is read from a pipe (gone
once read), so code that exits early (`sys.exit(0)`, `os._exit(0)`, a SystemExit in the
tests), silences errors or prints a fake verdict does not pass. The harness keeps its own
references to what it calls after the code ran and turns tracing off before the tests.
Code written to subvert this harness from inside the interpreter (reading its frames)
is out of its reach; the sandbox still contains it.
"""

import builtins
import json
import os
import resource
import sys
import threading


def main() -> None:
    nonce_fd, result_fd, limits = int(sys.argv[1]), int(sys.argv[2]), json.loads(sys.argv[3])
    for name, value in limits.items():
        resource.setrlimit(getattr(resource, name), (value, value))
    nonce = os.read(nonce_fd, 256).decode()
    os.close(nonce_fd)
    os.write(result_fd, f"{nonce} start\n".encode())  # the sandbox works: what follows is the code's doing
    task = json.loads(sys.stdin.buffer.read())
    os.dup2(os.open(os.devnull, os.O_RDONLY), 0)
    write, exit_, run = os.write, os._exit, builtins.exec
    settrace, setprofile, thread_settrace = sys.settrace, sys.setprofile, threading.settrace

    def verdict(text: str, code: int) -> None:
        write(result_fd, f"{nonce} {text}".encode("utf-8", "replace")[:2000])
        exit_(code)

    stage = "code"
    try:
        solution = compile(task["code"], "solution.py", "exec")
        stage = "tests"
        tests = compile(task["tests"], "tests.py", "exec")
        namespace = {"__name__": "__main__", "__builtins__": builtins}
        stage = "code"
        run(solution, namespace)
        stage = "tests"
        settrace(None)
        setprofile(None)
        thread_settrace(None)
        run(tests, namespace)
    except BaseException as e:  # SystemExit too: exiting is not passing
        verdict(f"fail {stage}: {type(e).__name__}: {e}", 1)
    verdict("pass", 0)


if __name__ == "__main__":  # as `python -c`; importing this module runs nothing
    main()
