"""Run untrusted, model-written Python plus hidden tests in a process the kernel confines.

::

    tests = [{"call": "add(2, 3)", "expected": "5"}, {"call": "add(-1, 1)", "expected": "0"}]
    result = run_code("def add(a, b):\\n    return a + b", tests)
    result.status, result.passed, result.fraction   # "ok", 2, 1.0
    results = run_many([(code, tests), ...])        # in parallel, one process per job, order kept

Each run is its own process under bubblewrap with a seccomp filter (``isolation.py``): its own user,
PID, mount, network and IPC namespaces, a read-only view of what Python needs, a private size-limited
tmpfs as its working directory, no new processes, death with its parent. Inside, ``harness.py`` sets
resource limits and an audit hook, loads the code and makes each test's call. The caller enforces
the wall-clock limit and then kills bubblewrap, which takes the whole PID namespace with it.

Verdicts (``checks.py``): for a call check, the sandboxed process only reports the value its
function returned; this process parses it as a literal and compares it with the expected value,
which never leaves this process. Assert-statement tests are still accepted, and judged inside the
sandboxed process: a program can forge those (they are documented as hackable).

Statuses: ``ok`` (the code loaded and every test ran, passing or not), ``error`` (the code raised
when loaded; every test fails), ``timeout`` (wall-clock or CPU limit), ``memory`` (the memory limit
was hit), ``exited`` (the process ended before the tests finished, e.g. ``os._exit``), ``crashed``
(the sandbox itself failed to start or report).
"""

from __future__ import annotations

import json
import os
import secrets
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from posttrain.sandbox import isolation
from posttrain.sandbox.checks import AssertCheck, CallCheck, Check, decode_value, parse_test, same_value

HARNESS = (Path(__file__).parent / "harness.py").read_text()
# RLIMIT_CPU's signals, as the exit status of the child itself (weak mode) or as bubblewrap passes them on.
CPU_LIMIT_CODES = (-signal.SIGXCPU, -signal.SIGKILL, 128 + signal.SIGXCPU, 128 + signal.SIGKILL)
MAX_SHOWN_VALUE = 200  # characters of a wrong returned value quoted in a test's error


@dataclass(frozen=True)
class Limits:
    """What one run may use. Wall-clock and CPU in seconds, memory (address space) in MB, output in bytes."""

    timeout_s: float = 5.0
    cpu_s: float = 5.0
    memory_mb: int = 512
    output_bytes: int = 64_000  # per stream (stdout, stderr); the rest is dropped
    file_bytes: int = 1_000_000  # the largest file the code may write
    disk_bytes: int = 16_000_000  # all files together: the size of its private tmpfs
    # The in-process audit hook, an extra layer over the kernel's: the hostile test battery turns it
    # off to show that namespaces and seccomp hold on their own.
    audit_hook: bool = True


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
    isolation: list[str] = field(default_factory=list)  # the confinement layers the run was started under

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


def run_code(code: str, tests: Sequence[Any], limits: Limits = Limits()) -> ExecutionResult:
    """Run ``code``, then each test (a call check or an assert statement, raw or parsed: ``checks.py``), confined."""
    checks = [parse_test(test) for test in tests]
    weak = isolation.weak_mode()
    if not weak:
        isolation.check_available()
    start = time.perf_counter()
    base = Path(tempfile.mkdtemp(prefix="posttrain-sandbox-"))  # 0700, ours; the child never sees it
    nonce = secrets.token_hex(16)
    applied = [] if weak else ["namespaces", "seccomp", "private-tmpfs"]
    request = {"code": code, "tests": [check.request() for check in checks], "nonce": nonce,
               "limits": asdict(limits), "stdlib": isolation.stdlib_dirs()}
    try:
        (base / "request.json").write_text(json.dumps(request))
        with open(base / "request.json", "rb") as stdin, open(base / "stdout", "wb") as stdout, \
                open(base / "stderr", "wb") as stderr, open(base / "results", "wb") as results:
            timed_out, returncode = _run_child(stdin, stdout, stderr, results, base, limits, weak)
        lines = _read_capped(base / "results", 4_000_000 + 200_000 * len(checks))
        stdout_text = _read_capped(base / "stdout", limits.output_bytes)
        stderr_text = _read_capped(base / "stderr", limits.output_bytes)
    finally:
        shutil.rmtree(base, ignore_errors=True)
    events = _parse_events(lines, nonce)
    result = _outcome(events, checks, timed_out, returncode, stderr_text, limits)
    result.stdout, result.stderr = stdout_text, stderr_text
    hook = ["audit-hook"] if limits.audit_hook else []
    result.isolation = [*applied, "rlimits", *hook] if applied else ["weak: rlimits", *hook]
    result.seconds = time.perf_counter() - start
    return result


def run_many(jobs: Sequence[tuple[str, Sequence[Any]]], limits: Limits = Limits(),
             workers: int | None = None) -> list[ExecutionResult]:
    """Run every ``(code, tests)`` job, ``workers`` at a time (default: one per core); results in order."""
    workers = workers or os.cpu_count() or 1
    if workers == 1 or len(jobs) <= 1:
        return [run_code(code, tests, limits) for code, tests in jobs]
    with ThreadPoolExecutor(max_workers=workers) as pool:  # each thread only waits on its child process
        return list(pool.map(lambda job: run_code(job[0], job[1], limits), jobs))


def _run_child(stdin, stdout, stderr, results, base: Path, limits: Limits, weak: bool) -> tuple[bool, int]:
    """Start the harness, wait up to the wall-clock limit, then kill everything it left.

    Returns whether the wall-clock limit struck and the child's exit status (negative: killed by that signal).
    """
    # -s -S: no user or system site-packages; -B: no bytecode written. Not -I/-E: the environment is
    # ours alone, and it fixes the string hash seed, so iterating over a set of strings gives the
    # same answer every run.
    env = {"PATH": "/usr/bin:/bin", "LANG": "C.UTF-8", "PYTHONHASHSEED": "0"}
    fds = [results.fileno()]
    if weak:
        workdir = base / "work"
        workdir.mkdir(mode=0o700)
        env |= {"HOME": str(workdir), "TMPDIR": str(workdir)}
        command = [sys.executable, "-s", "-S", "-B", "-c", HARNESS, str(results.fileno())]
        cwd = workdir
    else:
        env |= {"HOME": isolation.WORKDIR, "TMPDIR": isolation.WORKDIR}
        seccomp_fd = os.memfd_create("posttrain-seccomp")  # bwrap reads the filter from it, then closes it
        os.write(seccomp_fd, isolation.seccomp_program())
        os.lseek(seccomp_fd, 0, os.SEEK_SET)
        fds.append(seccomp_fd)
        argv = [isolation.interpreter(), "-s", "-S", "-B", "-c", HARNESS, str(results.fileno())]
        command = isolation.bwrap_command(argv, seccomp_fd=seccomp_fd, disk_bytes=limits.disk_bytes, env=env)
        cwd = base
    try:
        process = subprocess.Popen(command, stdin=stdin, stdout=stdout, stderr=stderr, cwd=cwd, env=env,
                                   pass_fds=tuple(fds), start_new_session=True, close_fds=True)
    finally:
        if not weak:
            os.close(seccomp_fd)
    timed_out = False
    try:
        process.wait(timeout=limits.timeout_s + 1.0)  # + interpreter and namespace start-up
    except subprocess.TimeoutExpired:
        timed_out = True
    finally:
        # Killing bubblewrap kills its PID namespace's init (--die-with-parent), and with it every
        # process inside; the group kill covers the weak mode's child and anything it started.
        try:
            os.killpg(process.pid, signal.SIGKILL)
        except (ProcessLookupError, PermissionError):
            pass
        process.wait()
    return timed_out, process.returncode


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
        if isinstance(event, dict) and event.get("nonce") == nonce and isinstance(event.get("event"), str):
            events.append(event)
    return events


def _outcome(events: list[dict], checks: list[Check], timed_out: bool, returncode: int, stderr: str,
             limits: Limits) -> ExecutionResult:
    """Fold the child's event lines into per-test outcomes and one status. Call checks are judged here."""
    kinds = {event["event"] for event in events}
    load_error = next((event for event in events if event["event"] == "load_error"), None)
    memory_hit = any(event.get("kind") == "memory" for event in events) or "MemoryError" in stderr
    if timed_out:
        status, error = "timeout", f"wall-clock limit of {limits.timeout_s:g} s exceeded"
    elif "confined" not in kinds:
        status, error = "crashed", "the sandbox did not start: " + (stderr.strip().splitlines() or ["no output"])[-1]
    elif load_error is not None:
        status, error = ("memory" if load_error.get("kind") == "memory" else "error"), str(load_error.get("error"))
    elif "done" not in kinds and returncode in CPU_LIMIT_CODES:
        status, error = "timeout", f"CPU limit of {limits.cpu_s:g} s exceeded"  # RLIMIT_CPU's signals
    elif "done" not in kinds:
        status, error = "exited", f"the process ended (status {returncode}) before the tests finished"
    elif memory_hit:
        status, error = "memory", f"memory limit of {limits.memory_mb} MB exceeded"
    else:
        status, error = "ok", None
    by_index: dict[int, list[dict]] = {}
    for event in events:
        if event["event"] in ("test", "value") and isinstance(event.get("index"), int):
            by_index.setdefault(event["index"], []).append(event)
    tests = []
    for index, check in enumerate(checks):
        reported = by_index.get(index)
        if not reported:
            reason = {"timeout": "timeout", "error": f"not run: the code failed to load ({error})"}.get(
                status, f"not run: {error}")
            tests.append(TestOutcome(index, False, reason, 0.0))
        elif isinstance(check, CallCheck):
            tests.append(_judge_call(index, check, reported))
        else:
            event = reported[-1]
            tests.append(TestOutcome(index, event.get("passed") is True, _text(event.get("error")),
                                     _seconds(event)))
    return ExecutionResult(tests=tests, status=status, error=error, stdout="", stderr="", seconds=0.0)


def _judge_call(index: int, check: CallCheck, reported: list[dict]) -> TestOutcome:
    """Compare the one value the child sent for this call with the expected value only we hold."""
    seconds = _seconds(reported[-1])
    if len(reported) > 1:
        return TestOutcome(index, False, "the call was reported more than once", seconds)
    event = reported[0]
    if event["event"] == "test":  # the call raised
        return TestOutcome(index, False, _text(event.get("error")) or "the call failed", seconds)
    ok, value = decode_value(event.get("value"))
    if not ok:
        return TestOutcome(index, False, "the call returned something that is not a plain value", seconds)
    if same_value(value, check.expected):
        return TestOutcome(index, True, None, seconds)
    shown = repr(value)
    shown = shown if len(shown) <= MAX_SHOWN_VALUE else shown[: MAX_SHOWN_VALUE - 3] + "..."
    return TestOutcome(index, False, f"{check.source}: returned {shown}", seconds)


def _text(value: Any) -> str | None:
    return None if value is None else str(value)[:500]


def _seconds(event: dict) -> float:
    seconds = event.get("seconds")
    return float(seconds) if isinstance(seconds, int | float) and not isinstance(seconds, bool) else 0.0
