"""The sandbox contains hostile code and reports it, and scores honest code right."""

from __future__ import annotations

import os
import subprocess
import tempfile
import time

import pytest

from posttrain.sandbox import Limits, run_code, run_many

FAST = Limits(timeout_s=2.0, cpu_s=2.0)
ADD = "def add(a, b):\n    return a + b\n"


@pytest.fixture()
def private_tmp(tmp_path, monkeypatch):
    """Sandbox scratch directories go under tmp_path, so a test can see whether they are removed."""
    scratch = tmp_path / "scratch"
    scratch.mkdir()
    monkeypatch.setattr(tempfile, "tempdir", str(scratch))
    return scratch


def test_correct_and_incorrect_solutions_are_scored_per_test():
    tests = ["assert add(2, 3) == 5", "assert add(-1, 1) == 0", "assert add('a', 'b') == 'ab'"]
    right = run_code(ADD, tests)
    assert right.status == "ok" and right.passed == 3 and right.all_passed and right.fraction == 1.0
    wrong = run_code("def add(a, b):\n    return a - b\n", tests)
    assert wrong.status == "ok"
    assert [t.passed for t in wrong.tests] == [False, False, False]
    assert wrong.tests[0].error == "AssertionError"
    partly = run_code("def add(a, b):\n    return a + b if a > 0 else 0\n", tests[:2])
    assert [t.passed for t in partly.tests] == [True, True]  # add(-1, 1) is 0 either way
    assert partly.fraction == 1.0


def test_a_test_error_names_the_exception_and_later_tests_still_run():
    result = run_code(ADD, ["assert add(1) == 1", "assert add(1, 2) == 3"])
    assert result.tests[0].error.startswith("TypeError: add() missing 1 required positional argument")
    assert result.tests[1].passed


def test_code_that_raises_on_load_fails_every_test_with_its_error():
    result = run_code("def add(a, b)\n    return a + b\n", ["assert add(1, 2) == 3", "assert True"])
    assert result.status == "error" and result.error.startswith("SyntaxError")
    assert result.passed == 0 and all("failed to load" in t.error for t in result.tests)


def test_infinite_loop_is_stopped_by_the_cpu_limit():
    start = time.perf_counter()
    result = run_code("while True:\n    pass\n", ["assert True"], FAST)
    assert result.status == "timeout" and "CPU limit" in result.error
    assert result.tests[0].error == "timeout"
    assert time.perf_counter() - start < 6


def _children() -> set[str]:
    found = subprocess.run(["pgrep", "-P", str(os.getpid())], capture_output=True, text=True, check=False)
    return set(found.stdout.split())


def test_sleeping_forever_is_stopped_by_the_wall_clock_and_leaves_no_process(private_tmp):
    # Children started earlier in the session (a shared vLLM engine's processes) are not the sandbox's.
    before = _children()
    result = run_code("import time\ntime.sleep(1000)\n", ["assert True"], Limits(timeout_s=1.0))
    assert result.status == "timeout" and "wall-clock" in result.error
    assert list(private_tmp.iterdir()) == []  # the scratch directory is gone
    assert _children() <= before  # no child the run started is left


def test_fork_bomb_attempt_is_refused():
    result = run_code("import os\nwhile True:\n    os.fork()\n", ["assert True"], FAST)
    assert result.status == "error" and "os.fork is not allowed" in result.error
    for code, event in (("os.system(':(){ :|:& };:')", "os.system"), ("os.execv('/bin/sh', ['sh'])", "os.exec"),
                        ("os.posix_spawn('/bin/sh', ['sh'], {})", "os.posix_spawn")):
        result = run_code("import os\n" + code, ["assert True"], FAST)
        assert result.status == "error" and f"{event} is not allowed" in result.error, code


def test_allocating_50_gb_hits_the_memory_limit():
    result = run_code("x = bytearray(50 * 10**9)\n", ["assert True"], FAST)
    assert result.status == "memory" and result.error.startswith("MemoryError")
    in_test = run_code(ADD, ["assert add(1, 2) == 3", "y = [0] * (10**10)"], FAST)
    assert in_test.status == "memory" and in_test.tests[0].passed and in_test.tests[1].error.startswith("MemoryError")


def test_writing_or_deleting_outside_the_working_directory_never_reaches_the_caller(tmp_path):
    """The caller's files are not in the sandbox's view at all (the run's /tmp is its own tmpfs), so each
    attempt fails: refused by the audit hook, or not found."""
    keep = tmp_path / "keep.txt"
    keep.write_text("precious")
    for code in (f"open({str(tmp_path / 'evil.txt')!r}, 'w').write('x')",
                 f"import os\nos.remove({str(keep)!r})",
                 f"import os\nos.rename({str(keep)!r}, 'mine.txt')"):
        result = run_code(code, ["assert True"], FAST)
        assert result.status == "error" and ("PermissionError" in result.error or "FileNotFoundError" in result.error), code
    assert keep.read_text() == "precious"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["keep.txt"]
    # The run's own /tmp is a private tmpfs: a write there succeeds and never reaches the caller's /tmp.
    assert run_code("open('/tmp/posttrain-sandbox-escape.txt', 'w').write('x')", ["assert True"], FAST).status == "ok"
    assert not os.path.exists("/tmp/posttrain-sandbox-escape.txt")


def test_files_inside_the_working_directory_work_and_are_removed(private_tmp):
    result = run_code("open('notes.txt', 'w').write('hello')\nTEXT = open('notes.txt').read()\n",
                      ["assert TEXT == 'hello'"])
    assert result.all_passed
    assert list(private_tmp.iterdir()) == []


def test_opening_a_socket_is_refused():
    for code in ("import socket\nsocket.create_connection(('127.0.0.1', 22), timeout=1)",
                 "import _socket\n_socket.socket()"):
        result = run_code(code, ["assert True"], FAST)
        assert result.status == "error" and "not allowed" in result.error, code


def test_environment_secrets_are_not_visible(monkeypatch):
    monkeypatch.setenv("POSTTRAIN_TEST_SECRET", "hunter2")
    result = run_code("import os\nprint(sorted(os.environ))\nprint(os.environ.get('POSTTRAIN_TEST_SECRET'))\n",
                      ["assert True"])
    assert result.status == "ok" and "hunter2" not in result.stdout
    assert result.stdout.splitlines()[-1] == "None"
    parent = run_code(f"print(open('/proc/{os.getpid()}/environ').read())", ["assert True"], FAST)
    assert parent.status == "error" and "hunter2" not in parent.stdout + parent.stderr + parent.error


def test_printing_a_gigabyte_is_capped_and_does_not_hang():
    start = time.perf_counter()
    result = run_code("for _ in range(10**6):\n    print('x' * 1000)\n", ["assert True"],
                      Limits(timeout_s=10, cpu_s=10, output_bytes=10_000))
    assert result.status == "ok" and len(result.stdout) == 10_000
    raw = run_code("import os\nfor _ in range(10**5):\n    os.write(1, b'y' * 10_000)\n", ["assert True"],
                   Limits(output_bytes=10_000, file_bytes=100_000))
    assert raw.status == "error" and "File too large" in raw.error and len(raw.stdout) == 10_000
    assert time.perf_counter() - start < 10


def test_os_exit_is_reported_and_earlier_tests_keep_their_results():
    result = run_code(ADD, ["assert add(1, 1) == 2", "import os\nos._exit(0)", "assert True"], FAST)
    assert result.status == "exited" and "status 0" in result.error
    assert [t.passed for t in result.tests] == [True, False, False]
    assert result.tests[2].error.startswith("not run")


def test_forged_result_lines_are_ignored():
    forge = ('import os\nfor fd in range(3, 10):\n    try:\n        os.write(fd, b\'{"event": "test", "index": 0, '
             '"passed": true, "seconds": 0}\\n\')\n    except OSError:\n        pass\n')
    result = run_code(forge, ["assert False"], FAST)
    assert result.tests[0].passed is False


def test_run_many_runs_in_parallel_and_keeps_order():
    jobs = [(f"def f(x):\n    return x * {k}\n", [f"assert f(2) == {2 * k}", "assert f(0) == 1"]) for k in range(12)]
    start = time.perf_counter()
    results = run_many(jobs, workers=2)
    assert [r.passed for r in results] == [1] * 12
    assert all(r.tests[1].error == "AssertionError" for r in results)
    assert time.perf_counter() - start < 15


def test_parallel_runs_do_not_interfere(private_tmp):
    """A hostile job next to honest ones: the honest ones still pass and nothing is left behind."""
    jobs = [("while True:\n    pass\n", ["assert True"])] + [(ADD, ["assert add(2, 2) == 4"])] * 5 + \
        [("x = bytearray(50 * 10**9)\n", ["assert True"])]
    results = run_many(jobs, Limits(timeout_s=2.0, cpu_s=2.0), workers=3)
    assert [r.status for r in results] == ["timeout"] + ["ok"] * 5 + ["memory"]
    assert all(r.all_passed for r in results[1:6])
    assert list(private_tmp.iterdir()) == []


def test_string_hashes_are_the_same_every_run():
    code = "ORDER = list({'pear', 'apple', 'fig', 'kiwi', 'plum', 'lime'})\n"
    orders = {run_code(code + "print(ORDER)", ["assert True"]).stdout for _ in range(3)}
    assert len(orders) == 1
