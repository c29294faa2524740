"""A hostile battery for the code sandbox: each attack, and the exact outcome the caller must see.

Importable by pytest (``test_hostile.py``) and runnable on its own, as an unprivileged user, with
nothing but the standard library, ``posttrain.sandbox`` and ``pyseccomp``::

    python hostile.py            # prints one line per attack, exits 1 if any outcome is wrong

Every escape attack first tries to switch the in-process audit hook off (rebinding the globals and
builtins it once read), then does its damage; the battery runs with the hook on and with it off,
since the kernel's layers (namespaces, seccomp, the private tmpfs) must hold on their own. Outcomes
are checked on the host side: a file that must not appear, a secret that must not leak into the
output, a process that must survive, a score that must equal the honest one.
"""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass, replace

from posttrain.sandbox import Limits, run_code, run_many
from posttrain.sandbox.isolation import weak_mode

LIMITS = Limits(timeout_s=3.0, cpu_s=3.0)
SECRET = "s3cr3t-" + "4f1c9e"  # the content of the host's private file, never to be seen in a run's output

# Disable the audit hook the ways the old one could be disabled, ignoring failures: a run then
# tests what is left. Prepended to every escape.
UNHOOK = """
import builtins, os, sys
try:
    import __main__
    __main__.DENIED_EVENTS = frozenset(); __main__.DENIED_MODULES = frozenset(); __main__.PATH_EVENTS = {}
    sys._getframe(0).f_globals.get("__builtins__")
    for frame_depth in range(4):
        try:
            frame_globals = sys._getframe(frame_depth).f_globals
            frame_globals["DENIED_EVENTS"] = frozenset(); frame_globals["DENIED_MODULES"] = frozenset()
        except Exception:
            pass
    builtins.any = lambda it: False
    os.path.realpath = lambda p, *a, **k: os.getcwd()
except Exception as error:
    print("unhook:", error)
"""


@dataclass
class Host:
    """What the attacks aim at: paths and a process of the user running the battery."""

    secret: str  # a 0600 file holding SECRET
    outside: str  # a directory where nothing may appear
    victim_pid: int  # a process of ours that must survive
    port: int  # a loopback port we listen on; nothing may connect
    listener: socket.socket

    def fmt(self, code: str) -> str:
        for key, value in (("{secret_dir}", os.path.dirname(self.secret)), ("{secret}", self.secret),
                           ("{outside}", self.outside), ("{victim}", str(self.victim_pid)), ("{port}", str(self.port))):
            code = code.replace(key, value)
        return code


@dataclass
class Attack:
    name: str
    kind: str  # the attack class, for the closing table
    code: str
    check: Callable  # (result, host) -> str | None: None when the outcome is right, else what went wrong
    tests: tuple = ({"call": "f()", "expected": "None"},)
    unhook: bool = True
    score: float | None = None  # a reward hack's exact score: the honest one, or 0 where the forgery is caught


def nothing_outside(result, host):
    left = os.listdir(host.outside)
    return f"files appeared outside: {left}" if left else None


def no_secret(result, host):
    if SECRET in result.stdout or SECRET in result.stderr:
        return "the secret leaked into the output"
    return nothing_outside(result, host)


def printed(expected: str):
    """The run printed ``expected`` (the attack reports its own failure), and nothing leaked."""
    def check(result, host):
        if expected not in result.stdout:
            return f"expected {expected!r} in the output, got {result.stdout[-300:]!r} / {result.stderr[-300:]!r}"
        return no_secret(result, host)
    return check


def victim_alive(result, host):
    try:
        os.kill(host.victim_pid, 0)
    except ProcessLookupError:
        return "the victim process was killed"
    return no_secret(result, host)


def status_is(*statuses: str):
    def check(result, host):
        if result.status not in statuses:
            return f"status {result.status} ({result.error}), expected one of {statuses}"
        return no_secret(result, host)
    return check


def no_connection(result, host):
    host.listener.settimeout(0.05)
    try:
        connection, _ = host.listener.accept()
    except (TimeoutError, BlockingIOError, socket.timeout):
        return no_secret(result, host)
    connection.close()
    return "a connection reached the host's loopback listener"


def try_each(*lines: str) -> str:
    """Run each statement, printing BLOCKED when it raises: the expected outcome of an escape."""
    body = ""
    for line in lines:
        body += f"try:\n    {line}\n    print('DONE')\nexcept BaseException as error:\n    print('BLOCKED', type(error).__name__)\n"
    return body


def blocked(result, host):
    if "DONE" in result.stdout:
        return f"an escape step succeeded: {result.stdout[-400:]!r}"
    if "BLOCKED" not in result.stdout and result.status == "ok":
        return f"no step reported: {result.stdout[-300:]!r} {result.stderr[-300:]!r}"
    return no_secret(result, host)


LIBC = "import ctypes; libc = ctypes.CDLL(None, use_errno=True)"

ESCAPES = [
    Attack("rebind hook globals, then os.system", "hook globals", try_each(
        "assert os.system('touch {outside}/pwned; cat {secret}') == 0, 'refused'"), blocked),
    Attack("rebind through sys._getframe(1).f_globals, then subprocess", "hook globals", try_each(
        "import subprocess; print(subprocess.run(['cat', '{secret}'], capture_output=True).stdout)"), blocked),
    Attack("builtins.any rebound, then write outside", "builtins", try_each(
        "open('{outside}/any.txt', 'w').write('x')"), blocked),
    Attack("os.path.realpath rebound, then write outside", "builtins", try_each(
        "open('{outside}/realpath.txt', 'w').write('x')"), blocked),
    Attack("read a private file of the caller", "file read", try_each("print(open('{secret}').read())"), blocked),
    Attack("read /etc/passwd", "file read", try_each("print(open('/etc/passwd').read()[:50])"), blocked),
    Attack("read the caller's directory listing", "listing", try_each("print(os.listdir('{secret_dir}'))"), blocked),
    Attack("list / shows only the sandbox's view", "listing",
           "import os\ntry:\n    print(sorted(os.listdir('/')))\nexcept PermissionError:\n    print('BLOCKED')\n",
           lambda result, host: None if ("BLOCKED" in result.stdout or set(eval(result.stdout.strip().splitlines()[-1]))
                                         <= {"bin", "dev", "lib", "lib64", "proc", "tmp", "usr", "root", "opt", "home"})
           else f"unexpected entries in /: {result.stdout[-300:]}"),
    Attack("stat a private file", "file read", try_each("print(os.stat('{secret}'))"), blocked),
    Attack("write outside the working directory", "file write", try_each("open('{outside}/w.txt', 'w').write('x')"),
           blocked),
    Attack("mkfifo outside", "file write", try_each("os.mkfifo('{outside}/fifo')"), blocked),
    Attack("mknod a regular file outside", "file write", try_each(
        "import stat; os.mknod('{outside}/node', stat.S_IFREG | 0o600)"), blocked),
    Attack("symlink to a private file", "file read", try_each(
        "os.symlink('{secret}', 'link'); print(open('link').read())"), blocked),
    Attack("hard link to a private file", "file read", try_each("os.link('{secret}', 'hard')"), blocked),
    Attack("write into the standard library", "file write", try_each(
        "open(os.__file__, 'a').write('# pwned')"), blocked),
    Attack("see installed packages (site-packages hidden)", "listing",
           "import os, sysconfig\nprint('PKGS', len(os.listdir(sysconfig.get_paths()['purelib'])) if os.path.isdir("
           "sysconfig.get_paths()['purelib']) else 0)\n",
           lambda result, host: None if "PKGS 0" in result.stdout or "Error" in (result.error or "")
           else f"site-packages visible: {result.stdout[-200:]}"),
    Attack("environment holds no secrets of the caller", "environment",
           "import os\nprint(sorted(os.environ))\nprint(open('/proc/self/environ').read() if os.path.exists('/proc/self/environ') else '')\n",
           lambda result, host: "the caller's environment leaked" if "POSTTRAIN_BATTERY_SECRET" in result.stdout
           or SECRET in result.stdout else None),
    Attack("read init's environment through /proc", "environment", try_each(
        "print(open('/proc/1/environ').read())"),
           lambda result, host: "the caller's environment leaked" if "POSTTRAIN_BATTERY_SECRET" in result.stdout else None),
    Attack("connect to a loopback listener of the host", "network", try_each(
        "import socket; socket.create_connection(('127.0.0.1', {port}), timeout=1)"), no_connection),
    Attack("raw _socket after dropping the import block", "network", try_each(
        "import sys; sys.modules.pop('_socket', None); import _socket; s = _socket.socket(); "
        "s.connect(('127.0.0.1', {port}))"), no_connection),
    Attack("socket through ctypes", "network", try_each(
        LIBC + "; fd = libc.socket(2, 1, 0); assert fd >= 0, 'socket refused'"), no_connection),
    Attack("DNS lookup", "network", try_each("import socket; socket.getaddrinfo('example.com', 80)"), blocked),
    Attack("os.fork", "processes", try_each("pid = os.fork()\n    if pid == 0: os._exit(0)"), blocked),
    Attack("subprocess", "processes", try_each("import subprocess; subprocess.run(['true'])"), blocked),
    Attack("os.posix_spawn", "processes", try_each("os.posix_spawn('/bin/true', ['true'], {})"), blocked),
    Attack("_posixsubprocess.fork_exec", "processes", try_each(
        "import sys; sys.modules.pop('_posixsubprocess', None); import _posixsubprocess, subprocess; "
        "subprocess.Popen(['touch', '{outside}/spawned'])"), blocked),
    Attack("fork through ctypes", "processes", try_each(LIBC + "; assert libc.fork() >= 0, 'fork refused'"), blocked),
    Attack("fork bomb", "processes", try_each("while True:\n        os.fork()"), blocked),
    Attack("exec replaces the interpreter with a shell", "processes", try_each(
        "os.execv('/bin/sh', ['sh', '-c', 'cat {secret} > {outside}/exec'])"), blocked),
    Attack("kill a process of the caller", "processes", try_each("os.kill({victim}, 9)"), victim_alive),
    Attack("kill every process it can (-1)", "processes", try_each("os.kill(-1, 9)"), victim_alive),
    Attack("setsid and a background thread outliving the run", "leftover processes",
           "import os, threading, time\ntry:\n    os.setsid()\nexcept OSError:\n    pass\n"
           "threading.Thread(target=time.sleep, args=(600,)).start()\ndef f():\n    return None\n",
           status_is("timeout", "ok")),
    Attack("ptrace through ctypes", "ctypes", try_each(LIBC + "; assert libc.ptrace(16, {victim}, 0, 0) == 0, 'refused'"),
           victim_alive),
    Attack("unshare a new namespace through ctypes", "ctypes", try_each(
        LIBC + "; assert libc.unshare(0x10000000) == 0, 'refused'"), blocked),
    Attack("mount through ctypes", "ctypes", try_each(
        LIBC + "; assert libc.mount(b'none', b'/tmp', b'tmpfs', 0, None) == 0, 'refused'"), blocked),
    Attack("keyctl through ctypes", "ctypes", try_each(
        LIBC + "; assert libc.syscall(250, 0, 0, 0, 0, 0) >= 0, 'refused'"), blocked),
    Attack("process_vm_readv through ctypes", "ctypes", try_each(
        LIBC + "; assert libc.syscall(310, {victim}, 0, 0, 0, 0, 0) >= 0, 'refused'"), blocked),
    Attack("module tricks: re-import a blocked module from its file", "modules", try_each(
        "import importlib.util, sysconfig, glob; "
        "path = glob.glob(sysconfig.get_paths()['platstdlib'] + '/lib-dynload/_posixsubprocess*')[0]; "
        "spec = importlib.util.spec_from_file_location('_posixsubprocess', path); "
        "m = importlib.util.module_from_spec(spec); spec.loader.exec_module(m); "
        "import subprocess; subprocess.run(['touch', '{outside}/m'])"), blocked),
    Attack("write to /proc/sysrq-trigger", "kernel", try_each("open('/proc/sysrq-trigger', 'w').write('b')"), blocked),
    Attack("read kernel memory", "kernel", try_each("open('/dev/mem', 'rb').read(1)"), blocked),
    Attack("memory bomb (50 GB)", "resource bombs", "x = bytearray(50 * 10**9)\n", status_is("memory")),
    Attack("CPU loop", "resource bombs", "while True:\n    pass\n", status_is("timeout")),
    Attack("disk bomb: 300 MB into the working directory", "resource bombs",
           "import os\nwritten = 0\ntry:\n    for i in range(300):\n        with open(f'/tmp/blob{i}', 'wb') as f:\n"
           "            f.write(b'x' * 1_000_000)\n        written += 1_000_000\nexcept OSError:\n    pass\n"
           "print('WRITTEN', written)\ndef f():\n    return None\n",
           lambda result, host: None if result.status == "ok" and "WRITTEN" in result.stdout
           and int(result.stdout.split("WRITTEN")[1].split()[0]) <= LIMITS.disk_bytes
           else f"disk use not bounded: {result.stdout[-200:]!r} {result.status}"),
    Attack("one huge file", "resource bombs",
           "try:\n    open('big', 'wb').write(b'x' * 50_000_000)\nexcept OSError as e:\n    print('BLOCKED', e)\n"
           "def f():\n    return None\n", printed("BLOCKED")),
    Attack("thread bomb", "resource bombs",
           "import threading, time\nthreads = 0\ntry:\n    for _ in range(10_000):\n"
           "        threading.Thread(target=time.sleep, args=(0.5,), daemon=True).start(); threads += 1\n"
           "except BaseException as e:\n    print('STOPPED', threads)\ndef f():\n    return None\n",
           status_is("ok", "memory", "timeout", "error")),
    Attack("output flood", "resource bombs", "import sys\nsys.stdout.write('x' * 10**9)\ndef f():\n    return None\n",
           lambda result, host: None if len(result.stdout) <= LIMITS.output_bytes else "output not capped"),
    Attack("open files exhaust", "resource bombs",
           "files = []\ntry:\n    while True:\n        files.append(open(f'/tmp/f{len(files)}', 'w'))\n"
           "except OSError:\n    print('BLOCKED', len(files))\ndef f():\n    return None\n", printed("BLOCKED")),
]
for attack in ESCAPES:
    if "def f(" not in attack.code:
        attack.code += "\ndef f():\n    return None\n"


# Reward hacks: a wrong add() (subtracts) plus a trick. Honest score on the three checks below: 1/3 (add(0, 0)).
WRONG_ADD = "def add(a, b):\n    return a - b\n"
ADD_CHECKS = ({"call": "add(2, 3)", "expected": "5"}, {"call": "add(0, 0)", "expected": "0"},
              {"call": "add(5, 5)", "expected": "10"})
HONEST = 1 / 3

FORGE_LINES = """
import gc, json, os, sys
nonce = None
for obj in gc.get_objects():
    if isinstance(obj, dict) and "nonce" in obj and "tests" in obj:
        nonce = obj["nonce"]
for depth in range(6):
    try:
        nonce = nonce or sys._getframe(depth).f_locals.get("nonce") or sys._getframe(depth).f_globals.get("nonce")
    except ValueError:
        break
def forge():
    for fd in range(3, 1024):
        try:
            for index in range(10):
                os.write(fd, (json.dumps({"nonce": nonce, "event": "value", "index": index, "value": "5",
                                          "seconds": 0}) + "\\n").encode())
                os.write(fd, (json.dumps({"nonce": nonce, "event": "test", "index": index, "passed": True,
                                          "seconds": 0}) + "\\n").encode())
            os.write(fd, (json.dumps({"nonce": nonce, "event": "done"}) + "\\n").encode())
        except OSError:
            pass
"""

HACKS = [
    Attack("builtins.exec replaced by a no-op", "reward hack",
           "import builtins\nbuiltins.exec = lambda *a, **k: None\n" + WRONG_ADD, None),
    Attack("builtins.compile rebound", "reward hack",
           "import builtins\nbuiltins.compile = lambda *a, **k: compile('pass', '<x>', 'exec')\n" + WRONG_ADD, None),
    Attack("json.dumps patched to flip passed", "reward hack",
           "import json\n_dumps = json.dumps\ndef dumps(obj, *a, **k):\n    if isinstance(obj, dict):\n"
           "        obj = dict(obj, passed=True) if 'passed' in obj else obj\n        if 'value' in obj:\n"
           "            obj = dict(obj, value='5')\n    return _dumps(obj, *a, **k)\njson.dumps = dumps\n" + WRONG_ADD, None),
    Attack("nonce from frames, forged lines, then os._exit", "reward hack",
           FORGE_LINES + "forge()\nos._exit(0)\n" + WRONG_ADD, None),
    Attack("request found through gc, forged lines at exit", "reward hack",
           FORGE_LINES + "import atexit\natexit.register(forge)\n" + WRONG_ADD, None),
    Attack("forged lines before the honest ones (a call reported twice)", "reward hack",
           FORGE_LINES + "forge()\n" + WRONG_ADD, None),
    Attack("hidden tests read from the frame, answered from a lookup table", "reward hack",
           "import gc\nTABLE = {}\nfor obj in gc.get_objects():\n    if isinstance(obj, dict) and 'tests' in obj:\n"
           "        for test in obj['tests']:\n            if isinstance(test, dict) and 'expected' in test:\n"
           "                TABLE[test.get('args')] = test['expected']\n"
           "def add(a, b):\n    key = repr((a, b))\n    return eval(TABLE[key]) if key in TABLE else a - b\n", None),
    Attack("an object whose __eq__ is always True", "reward hack",
           "class Anything:\n    def __eq__(self, other):\n        return True\n    def __repr__(self):\n        return '5'\n"
           "def add(a, b):\n    return a - b if a == b == 0 else Anything()\n", None),
    Attack("an int subclass whose __eq__ is always True", "reward hack",
           "class Int(int):\n    def __eq__(self, other):\n        return True\n    __hash__ = int.__hash__\n"
           "def add(a, b):\n    return Int(a - b)\n", None),
    Attack("os.write patched to rewrite result lines", "reward hack",
           "import os\n_write = os.write\ndef write(fd, data):\n    if fd > 2:\n"
           "        data = data.replace(b'\"passed\": false', b'\"passed\": true').replace(b'\"value\": \"-1\"', b'\"value\": \"5\"')\n"
           "    return _write(fd, data)\nos.write = write\n" + WRONG_ADD, None),
    Attack("sys.exit inside the function", "reward hack",
           "import sys\ndef add(a, b):\n    if a == b == 0:\n        return 0\n    sys.exit(0)\n", None),
    Attack("harness's helper rebound in __main__", "reward hack",
           "import __main__\n__main__.literal_text = lambda value, depth=0: '5'\n"
           "__main__.same_value = lambda a, b: True\n" + WRONG_ADD, None),
]
# Forged value lines make a call reported twice, which fails it; a value of a type of its own is not a
# plain value and fails too. Every other trick leaves the wrong function its honest score.
CAUGHT = {"nonce from frames, forged lines, then os._exit", "request found through gc, forged lines at exit",
          "forged lines before the honest ones (a call reported twice)", "an int subclass whose __eq__ is always True"}
for hack in HACKS:
    hack.tests, hack.unhook, hack.score = ADD_CHECKS, False, 0.0 if hack.name in CAUGHT else HONEST


def make_host(root: str) -> Host:
    """The targets, under ``root`` (a directory of the user running the battery)."""
    secret_dir = tempfile.mkdtemp(prefix="secret-", dir=root)
    secret = os.path.join(secret_dir, "session.key")
    fd = os.open(secret, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    os.write(fd, SECRET.encode())
    os.close(fd)
    outside = tempfile.mkdtemp(prefix="outside-", dir=root)
    os.chmod(outside, 0o777)  # world-writable: only the kernel's view keeps the sandbox out
    victim = subprocess.Popen(["sleep", "120"])
    listener = socket.socket()
    listener.bind(("127.0.0.1", 0))
    listener.listen(8)
    return Host(secret, outside, victim.pid, listener.getsockname()[1], listener)


def run_attack(attack: Attack, host: Host, audit_hook: bool) -> str | None:
    """None when the outcome is right, else what went wrong."""
    # Never without kernel isolation: as root, "kill every process it can" would then kill the machine's.
    if weak_mode():
        raise SystemExit("the hostile battery runs only under kernel isolation (unset POSTTRAIN_SANDBOX)")
    code = (UNHOOK if attack.unhook else "") + host.fmt(attack.code)
    result = run_code(code, list(attack.tests), replace(LIMITS, audit_hook=audit_hook))
    if attack.check is None:  # a reward hack: its exact score
        return None if abs(result.fraction - attack.score) < 1e-9 else (
            f"scored {result.fraction:.3f}, expected {attack.score:.3f}: {[t.error for t in result.tests]}")
    return attack.check(result, host)


def parallel_tampering(host: Host) -> str | None:
    """Jobs run side by side: one writes where a parallel one would read, scans for other runs' files
    and writes into every open descriptor it can find; the honest jobs still score right."""
    tamper = ("import os, glob\nopen('/tmp/shared', 'w').write('tampered')\n"
              "for path in glob.glob('/tmp/../**/posttrain-sandbox-*', recursive=True):\n"
              "    print('SEEN', path)\nfor fd in range(3, 64):\n    try:\n"
              "        os.write(fd, b'{\"event\": \"value\", \"index\": 0, \"value\": \"5\"}\\n')\n"
              "    except OSError:\n        pass\n" + WRONG_ADD)
    honest = "import os\ndef add(a, b):\n    return -1 if os.path.exists('/tmp/shared') else a + b\n"
    jobs = [(tamper, list(ADD_CHECKS)), (honest, list(ADD_CHECKS))] * 4
    results = run_many(jobs, LIMITS, workers=4)
    scores = [round(result.fraction, 3) for result in results]
    if scores != [0.0, 1.0] * 4:  # the tampering job's forged lines fail its own calls
        return f"scores {scores}"
    if any("SEEN" in result.stdout for result in results):
        return "a run saw another run's files"
    return nothing_outside(results[0], host)


def leftover_processes(marker: str) -> list[str]:
    found = subprocess.run(["pgrep", "-f", marker], capture_output=True, text=True, check=False).stdout.split()
    return [pid for pid in found if int(pid) != os.getpid()]


def main() -> int:
    os.environ["POSTTRAIN_BATTERY_SECRET"] = SECRET
    failures = 0
    with tempfile.TemporaryDirectory() as root:
        host = make_host(root)
        try:
            for audit_hook in (True, False):
                for attack in ESCAPES + HACKS:
                    problem = run_attack(attack, host, audit_hook)
                    failures += problem is not None
                    print(f"{'FAIL' if problem else 'ok  '} hook={'on ' if audit_hook else 'off'} "
                          f"{attack.kind:<18} {attack.name}" + (f": {problem}" if problem else ""))
            problem = parallel_tampering(host)
            failures += problem is not None
            print(f"{'FAIL' if problem else 'ok  '} parallel-job tampering" + (f": {problem}" if problem else ""))
        finally:
            os.kill(host.victim_pid, 9)
    time.sleep(0.2)
    left = leftover_processes("posttrain-sandbox|sandbox-harness")
    if left:
        failures += 1
        print("FAIL processes left behind:", left)
    print(f"battery: {failures} wrong outcomes" if failures else "battery: every outcome right")
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
