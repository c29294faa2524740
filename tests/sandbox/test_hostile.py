"""The hostile battery (``hostile.py``) against the sandbox, as root and as an unprivileged user, plus the
reward's own path (``code_tests_passed``) under the same hacks."""

from __future__ import annotations

import os
import shutil
import subprocess
import tempfile
from pathlib import Path

import hostile
import pytest

import posttrain
from posttrain.errors import UserError
from posttrain.rewards.code import code_tests_passed
from posttrain.sandbox import run_code
from posttrain.sandbox.isolation import SandboxUnavailable, check_available, weak_mode

if weak_mode():  # as root, without kernel isolation, some attacks would hit the machine itself
    pytest.skip("the hostile battery needs kernel isolation (POSTTRAIN_SANDBOX is set to weak)",
                allow_module_level=True)

ATTACKS = hostile.ESCAPES + hostile.HACKS


@pytest.fixture(scope="module")
def host(tmp_path_factory):
    os.environ["POSTTRAIN_BATTERY_SECRET"] = hostile.SECRET  # what the environment attacks look for
    made = hostile.make_host(str(tmp_path_factory.mktemp("host")))
    yield made
    os.kill(made.victim_pid, 9)
    made.listener.close()
    os.environ.pop("POSTTRAIN_BATTERY_SECRET", None)


def test_the_battery_is_large_and_covers_every_class():
    kinds = {attack.kind for attack in ATTACKS}
    assert len(ATTACKS) >= 50
    assert {"hook globals", "builtins", "file read", "file write", "listing", "environment", "network", "processes",
            "leftover processes", "ctypes", "modules", "resource bombs", "reward hack"} <= kinds


@pytest.mark.parametrize("audit_hook", [True, False], ids=["hook-on", "hook-off"])
@pytest.mark.parametrize("attack", ATTACKS, ids=[attack.name for attack in ATTACKS])
def test_attack_outcome(attack, audit_hook, host):
    assert hostile.run_attack(attack, host, audit_hook) is None


def test_parallel_jobs_cannot_tamper_with_each_other(host):
    assert hostile.parallel_tampering(host) is None


def test_no_process_outlives_a_run():
    marker = "outlive-marker-7731"
    before = set(Path(tempfile.gettempdir()).glob("posttrain-sandbox-*"))
    run_code(f"import threading, time\nthreading.Thread(target=time.sleep, args=(600,)).start()\n# {marker}\n",
             [{"call": "len('x')", "expected": "1"}], hostile.LIMITS)
    assert hostile.leftover_processes(marker) == []
    assert set(Path(tempfile.gettempdir()).glob("posttrain-sandbox-*")) == before  # its scratch directory is gone


@pytest.mark.parametrize("hack", hostile.HACKS, ids=[hack.name for hack in hostile.HACKS])
def test_the_reward_pays_hacks_no_more_than_honest_work(hack):
    """Through code_tests_passed with an all-pass bonus, as RL calls it: the exact score, never the bonus."""
    completion = f"Here it is:\n```python\n{hack.code}\n```"
    for bonus in (0.0, 0.5):
        score = code_tests_passed("", completion, tests=list(hostile.ADD_CHECKS), entry_point="add",
                                  all_pass_bonus=bonus)
        assert score == pytest.approx(hack.score)
    honest = "```python\ndef add(a, b):\n    return a + b\n```"
    assert code_tests_passed("", honest, tests=list(hostile.ADD_CHECKS), entry_point="add", all_pass_bonus=0.5) == 1.5


def test_assert_tests_are_hackable_which_is_why_the_data_uses_call_checks():
    """Documents the weaker kind: an assert is judged inside the tested process, so rebinding exec forges it."""
    hack = "import builtins\nbuiltins.exec = lambda *a, **k: None\n" + hostile.WRONG_ADD
    asserts = ["assert add(2, 3) == 5", "assert add(0, 0) == 0", "assert add(5, 5) == 10"]
    assert run_code(hack, asserts, hostile.LIMITS).fraction == 1.0
    assert run_code(hack, list(hostile.ADD_CHECKS), hostile.LIMITS).fraction == pytest.approx(1 / 3)


def test_every_bundled_rl_row_uses_call_checks():
    from datagen import make_code

    for name in ("code_rl.jsonl", "code_rl_eval.jsonl"):
        rows = [__import__("json").loads(line) for line in open(os.path.join(make_code.HERE, name), encoding="utf-8")]
        assert rows and all(isinstance(test, dict) for row in rows for test in row["tests"]), name


def test_a_missing_bubblewrap_is_a_one_line_error_naming_the_package(monkeypatch):
    monkeypatch.setenv("PATH", "/nonexistent")
    with pytest.raises(SandboxUnavailable) as caught:
        run_code("def f():\n    return 1", [{"call": "f()", "expected": "1"}])
    assert "bubblewrap" in str(caught.value) and "\n" not in str(caught.value)
    assert isinstance(caught.value, UserError)


def test_weak_mode_is_an_explicit_choice_and_says_so(monkeypatch):
    monkeypatch.setenv("POSTTRAIN_SANDBOX", "weak")
    result = run_code("def f():\n    return 1", [{"call": "f()", "expected": "1"}])
    assert result.all_passed and result.isolation[0].startswith("weak")
    monkeypatch.setenv("POSTTRAIN_SANDBOX", "off")
    with pytest.raises(UserError, match="POSTTRAIN_SANDBOX"):
        run_code("def f():\n    return 1", [{"call": "f()", "expected": "1"}])


def test_the_kernel_layers_are_applied():
    check_available()
    result = run_code("def f():\n    return 1", [{"call": "f()", "expected": "1"}])
    assert result.isolation == ["namespaces", "seccomp", "private-tmpfs", "rlimits", "audit-hook"]


@pytest.mark.skipif(os.getuid() != 0 or not Path("/usr/bin/python3").exists() or shutil.which("setpriv") is None,
                    reason="needs root (to switch to an unprivileged user), setpriv and Debian's /usr/bin/python3")
def test_the_battery_holds_as_an_unprivileged_user():
    """The whole battery run by uid 65534 with Debian's interpreter: bubblewrap without root privileges."""
    import pyseccomp

    root = Path(tempfile.mkdtemp(prefix="battery-", dir="/tmp"))  # not under pytest's private directory
    try:
        os.chmod(root, 0o755)
        tree, work = root / "tree", root / "home"
        package = Path(posttrain.__file__).parent
        for name in ("__init__.py", "errors.py", "sandbox/__init__.py", "sandbox/executor.py", "sandbox/harness.py",
                     "sandbox/checks.py", "sandbox/isolation.py"):
            (tree / "posttrain" / name).parent.mkdir(parents=True, exist_ok=True)
            shutil.copy(package / name, tree / "posttrain" / name)
        shutil.copy(pyseccomp.__file__, tree / "pyseccomp.py")
        shutil.copy(Path(hostile.__file__), tree / "hostile.py")
        subprocess.run(["chmod", "-R", "a+rX", str(tree)], check=True)
        work.mkdir()
        os.chown(work, 65534, 65534)
        command = ["setpriv", "--reuid=65534", "--regid=65534", "--clear-groups", "/usr/bin/python3", "-s",
                   str(tree / "hostile.py")]
        env = {"PATH": "/usr/bin:/bin", "PYTHONPATH": str(tree), "TMPDIR": str(work), "HOME": str(work)}
        done = subprocess.run(command, cwd=work, env=env, capture_output=True, text=True, timeout=300, check=False)
    finally:
        shutil.rmtree(root, ignore_errors=True)
    wrong = [line for line in done.stdout.splitlines() if line.startswith("FAIL")]
    assert (done.returncode, wrong) == (0, []), done.stdout[-3000:] + done.stderr[-3000:]
    assert "battery: every outcome right" in done.stdout
    assert sum(line.startswith("ok") for line in done.stdout.splitlines()) == 2 * len(ATTACKS) + 1
