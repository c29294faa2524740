"""Run untrusted, model-written Python plus hidden tests in a confined child process.

::

    result = run_code("def add(a, b):\\n    return a + b", ["assert add(2, 3) == 5", "assert add(-1, 1) == 0"])
    result.status, result.passed, result.fraction   # "ok", 2, 1.0
    results = run_many([(code, tests), ...])        # in parallel, one process per job, order kept

Each run gets its own process (``python -s -S -B``: no site-packages, no bytecode written, a fixed hash seed) in a new session, an empty environment, and a fresh temporary working directory removed
afterwards. The child confines itself before reading any code (see ``harness.py``): resource limits,
a network namespace, an unprivileged uid of its own when we are root, and an audit hook refusing
process creation, sockets, native calls and file access outside its directory. The caller enforces
the wall-clock limit and, whatever happened, kills the whole process group (and, with a uid of its
own, every process left under that uid), so nothing outlives the run.

Statuses: ``ok`` (the code loaded and every test ran, passing or not), ``error`` (the code raised
when loaded; every test fails), ``timeout`` (wall-clock or CPU limit), ``memory`` (the memory limit
was hit), ``exited`` (the process ended before the tests finished, e.g. ``os._exit``), ``crashed``
(the sandbox itself failed to start or report).
"""

from __future__ import annotations

import functools
import json
import os
import secrets
import shutil
import signal
import subprocess
import sys
import sysconfig
import tempfile
import time
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import asdict, dataclass, field
from pathlib import Path

HARNESS = (Path(__file__).parent / "harness.py").read_text()
STDLIB_DIRS = sorted({sysconfig.get_paths()["stdlib"], sysconfig.get_paths()["platstdlib"], os.path.dirname(os.__file__)})
# Each root-run gets a uid of its own from this range (above any system or login account), so per-uid
# process limits and the final sweep touch only that run.
UID_BASE, UID_SPAN = 2_000_000_000, 100_000_000


@dataclass(frozen=True)
class Limits:
    """What one run may use. Wall-clock and CPU in seconds, memory (address space) in MB, output in bytes."""

    timeout_s: float = 5.0
    cpu_s: float = 5.0
    memory_mb: int = 512
    output_bytes: int = 64_000  # per stream (stdout, stderr); the rest is dropped
    file_bytes: int = 1_000_000  # the largest file the code may write


@dataclass
class TestOutcome:
    index: int
    passed: bool
    error: str | None  # "AssertionError: ...", "timeout", "not run: ..."
    seconds: float


@dataclass
class ExecutionResult:
    tests: list[TestOutcome]
    status: str
    error: str | None
    stdout: str
    stderr: str
    seconds: float
    isolation: list[str] = field(default_factory=list)  # the confinement layers the child applied

    @property
    def passed(self) -> int:
        return sum(test.passed for test in self.tests)

    @property
    def fraction(self) -> float:
        return self.passed / len(self.tests) if self.tests else 0.0

    @property
    def all_passed(self) -> bool:
        return bool(self.tests) and self.passed == len(self.tests)

    def to_json(self) -> dict:
        return asdict(self)


def run_code(code: str, tests: Sequence[str], limits: Limits = Limits()) -> ExecutionResult:
    """Run ``code`` then each test (Python statements, usually an ``assert``) in its namespace, confined."""
    start = time.perf_counter()
    base = Path(tempfile.mkdtemp(prefix="posttrain-sandbox-"))  # 0700, ours: the child cannot reach it by path
    workdir = base / "work"
    workdir.mkdir()
    uid = _run_uid() if os.getuid() == 0 else None
    if uid is not None:
        os.chown(workdir, uid, uid)
    workdir.chmod(0o700)
    nonce = secrets.token_hex(16)
    request = {"code": code, "tests": list(tests), "nonce": nonce, "uid": uid, "limits": asdict(limits),
               "stdlib": STDLIB_DIRS, "preload": uid is not None and not _stdlib_world_readable()}
    try:
        (base / "request.json").write_text(json.dumps(request))
        with open(base / "request.json", "rb") as stdin, open(base / "stdout", "wb") as stdout, \
                open(base / "stderr", "wb") as stderr, open(base / "results", "wb") as results:
            timed_out, returncode = _run_child(stdin, stdout, stderr, results, workdir, limits, uid)
        lines = _read_capped(base / "results", 4_000_000 + 1_000 * len(request["tests"]))
        stdout_text = _read_capped(base / "stdout", limits.output_bytes)
        stderr_text = _read_capped(base / "stderr", limits.output_bytes)
    finally:
        shutil.rmtree(base, ignore_errors=True)
    events = _parse_events(lines, nonce)
    result = _outcome(events, len(request["tests"]), timed_out, returncode, stderr_text, limits)
    result.stdout, result.stderr = stdout_text, stderr_text
    result.seconds = time.perf_counter() - start
    return result


def run_many(jobs: Sequence[tuple[str, Sequence[str]]], limits: Limits = Limits(),
             workers: int | None = None) -> list[ExecutionResult]:
    """Run every ``(code, tests)`` job, ``workers`` at a time (default: one per core); results in order."""
    workers = workers or os.cpu_count() or 1
    if workers == 1 or len(jobs) <= 1:
        return [run_code(code, tests, limits) for code, tests in jobs]
    with ThreadPoolExecutor(max_workers=workers) as pool:  # each thread only waits on its child process
        return list(pool.map(lambda job: run_code(job[0], job[1], limits), jobs))


def _run_child(stdin, stdout, stderr, results, workdir: Path, limits: Limits,
               uid: int | None) -> tuple[bool, int]:
    """Start the harness, wait up to the wall-clock limit, then kill everything it left.

    Returns whether the wall-clock limit struck and the child's exit status (negative: killed by that signal).
    """
    # -s -S: no user or system site-packages. Not -I/-E: the environment is ours alone, and it fixes the
    # string hash seed, so a solution iterating over a set of strings gives the same answer every run.
    command = [sys.executable, "-s", "-S", "-B", "-c", HARNESS, str(results.fileno())]
    env = {"PATH": "/usr/bin:/bin", "LANG": "C.UTF-8", "HOME": str(workdir), "TMPDIR": str(workdir),
           "PYTHONHASHSEED": "0"}
    process = subprocess.Popen(command, stdin=stdin, stdout=stdout, stderr=stderr, cwd=workdir, env=env,
                               pass_fds=(results.fileno(),), start_new_session=True, close_fds=True)
    timed_out = False
    try:
        process.wait(timeout=limits.timeout_s + 1.0)  # + interpreter start-up and confinement
    except subprocess.TimeoutExpired:
        timed_out = True
    finally:
        _kill_all(process.pid, uid)
        process.wait()
    return timed_out, process.returncode


def _kill_all(pgid: int, uid: int | None) -> None:
    """Kill the run's process group and, when it has a uid of its own, any process under that uid."""
    try:
        os.killpg(pgid, signal.SIGKILL)
    except (ProcessLookupError, PermissionError):
        pass
    if uid is None:
        return
    for _ in range(20):  # a process that escaped the group may still be forking: sweep until none is left
        pids = _pids_of_uid(uid)
        if not pids:
            return
        for pid in pids:
            try:
                os.kill(pid, signal.SIGKILL)
            except ProcessLookupError:
                pass
        time.sleep(0.01)


def _pids_of_uid(uid: int) -> list[int]:
    pids = []
    for entry in os.scandir("/proc"):
        if entry.name.isdigit():
            try:
                if entry.stat(follow_symlinks=False).st_uid == uid:
                    pids.append(int(entry.name))
            except FileNotFoundError:
                continue
    return pids


def _run_uid() -> int:
    return UID_BASE + secrets.randbelow(UID_SPAN)


@functools.cache
def _stdlib_world_readable() -> bool:
    """Whether a stranger uid can reach the standard library (each directory on the way lets others in)."""
    for path in STDLIB_DIRS:
        current = Path(path).resolve()
        for directory in [current, *current.parents]:
            if directory.stat().st_mode & 0o005 != 0o005:
                return False
    return True


def _read_capped(path: Path, cap: int) -> str:
    with open(path, "rb") as file:
        return file.read(cap).decode("utf-8", "replace")


def _parse_events(text: str, nonce: str) -> list[dict]:
    events = []
    for line in text.splitlines():
        try:
            event = json.loads(line)
        except json.JSONDecodeError:
            continue
        if isinstance(event, dict) and event.get("nonce") == nonce:
            events.append(event)
    return events


def _outcome(events: list[dict], n_tests: int, timed_out: bool, returncode: int, stderr: str,
             limits: Limits) -> ExecutionResult:
    """Fold the child's event lines into per-test outcomes and one status."""
    kinds = {event["event"] for event in events}
    isolation = next((event.get("applied", []) for event in events if event["event"] == "confined"), [])
    ran = {event["index"]: event for event in events if event["event"] == "test"}
    load_error = next((event for event in events if event["event"] == "load_error"), None)
    memory_hit = any(event.get("kind") == "memory" for event in events) or "MemoryError" in stderr
    if timed_out:
        status, error = "timeout", f"wall-clock limit of {limits.timeout_s:g} s exceeded"
    elif "confined" not in kinds:
        status, error = "crashed", "the sandbox did not start: " + (stderr.strip().splitlines() or ["no output"])[-1]
    elif load_error is not None:
        status, error = ("memory" if load_error["kind"] == "memory" else "error"), load_error["error"]
    elif "done" not in kinds and returncode in (-signal.SIGXCPU, -signal.SIGKILL):
        status, error = "timeout", f"CPU limit of {limits.cpu_s:g} s exceeded"  # RLIMIT_CPU's signals
    elif "done" not in kinds:
        status, error = "exited", f"the process ended (status {returncode}) before the tests finished"
    elif memory_hit:
        status, error = "memory", f"memory limit of {limits.memory_mb} MB exceeded"
    else:
        status, error = "ok", None
    tests = []
    for index in range(n_tests):
        event = ran.get(index)
        if event is not None:
            tests.append(TestOutcome(index, bool(event["passed"]), event.get("error"), float(event["seconds"])))
        else:
            reason = {"timeout": "timeout", "error": f"not run: the code failed to load ({error})"}.get(
                status, f"not run: {error}")
            tests.append(TestOutcome(index, False, reason, 0.0))
    return ExecutionResult(tests=tests, status=status, error=error, stdout="", stderr="", seconds=0.0,
                           isolation=isolation)
