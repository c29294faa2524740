"""The child side of the sandbox: confine this process, run the code, run each test, report line by line.

This file is not imported by the package: the executor passes its source to ``python -I -S -c`` so the child
needs nothing but the standard library. Its input is one JSON object on stdin::

    {"code": str, "tests": [str], "nonce": str, "uid": int | null, "limits": {...}, "stdlib": [dir]}

and it writes JSON lines to the file descriptor named by ``argv[1]``, each carrying the nonce (so stray
bytes the code writes there are not taken for results)::

    {"nonce", "event": "loaded"}                               the code ran to its end
    {"nonce", "event": "load_error", "kind", "error"}          the code raised (kind: error | memory)
    {"nonce", "event": "test", "index", "passed", "error", "seconds", "kind"}
    {"nonce", "event": "done"}

Confinement, in order (privileged steps only when started as root, which the executor arranges):
1. resource limits: CPU seconds, address space, file size, open files, processes, no core dumps;
2. a fresh network namespace (root, or an unprivileged user namespace where the kernel allows one);
3. drop to an unprivileged uid/gid that owns only the working directory;
4. an audit hook, which cannot be removed from Python, refusing: process creation (fork, exec, spawn,
   subprocess), sockets, ctypes, signals to other processes, symlinks, reads outside the working
   directory and the standard library, and writes, deletes, renames and listings outside the working
   directory.
The code runs in the same interpreter as this harness, so a determined program can still forge its
results (the nonce makes that unlikely, not impossible): the OS layers, not the result lines, are
what keep the caller safe.
"""

import json
import os
import resource
import signal
import sys
import time

CLONE_NEWUSER = 0x10000000
CLONE_NEWNET = 0x40000000

# Audit events refused outright: new processes, sockets, native calls, signals, links, environment writes.
DENIED_EVENTS = frozenset({
    "os.fork", "os.forkpty", "os.exec", "os.spawn", "os.posix_spawn", "os.system", "os.startfile",
    "subprocess.Popen", "pty.spawn", "os.kill", "os.killpg", "signal.pthread_kill",
    "socket.__new__", "socket.connect", "socket.bind", "socket.getaddrinfo", "socket.sendto",
    "ctypes.dlopen", "ctypes.dlsym", "ctypes.call_function", "ctypes.cdata", "ctypes.addressof",
    "os.symlink", "os.link", "os.putenv", "os.unsetenv", "os.chown", "os.setxattr", "os.removexattr",
    "mmap.__new__",
})
# Modules whose import would reach around the hook (raw fork/exec without an audit event).
DENIED_MODULES = frozenset({"_posixsubprocess", "_ctypes", "ctypes", "_xxsubinterpreters", "_socket", "socket"})
# Events carrying a path that must stay inside the working directory: event -> indexes of path arguments.
PATH_EVENTS = {
    "os.remove": (0,), "os.rmdir": (0,), "os.mkdir": (0,), "os.rename": (0, 1), "os.chmod": (0,),
    "os.truncate": (0,), "os.utime": (0,), "os.listdir": (0,), "os.scandir": (0,), "os.chdir": (0,),
    "shutil.rmtree": (0,), "shutil.copyfile": (0, 1), "shutil.move": (0, 1), "os.chflags": (0,),
    "glob.glob": (0,), "os.walk": (0,),
}
# Imported before dropping privileges when the unprivileged uid cannot read the standard library (an
# interpreter under a private home directory): the modules solutions commonly use stay importable.
PRELOAD = ("math", "cmath", "re", "string", "collections", "collections.abc", "itertools", "functools", "operator",
           "heapq", "bisect", "json", "random", "statistics", "fractions", "decimal", "datetime", "time", "typing",
           "dataclasses", "enum", "copy", "textwrap", "unicodedata", "array", "struct", "hashlib", "base64",
           "calendar", "numbers", "pprint", "difflib")
WRITE_FLAGS = os.O_WRONLY | os.O_RDWR | os.O_CREAT | os.O_TRUNC | os.O_APPEND


def confine(request):
    limits = request["limits"]
    cpu = max(1, int(limits["cpu_s"] + 0.999))
    resource.setrlimit(resource.RLIMIT_CPU, (cpu, cpu + 1))
    memory = limits["memory_mb"] * 1024 * 1024
    resource.setrlimit(resource.RLIMIT_AS, (memory, memory))
    resource.setrlimit(resource.RLIMIT_FSIZE, (limits["file_bytes"], limits["file_bytes"]))
    resource.setrlimit(resource.RLIMIT_NOFILE, (64, 64))
    resource.setrlimit(resource.RLIMIT_CORE, (0, 0))
    # A write past the file-size limit fails with an OSError instead of killing the process.
    signal.signal(signal.SIGXFSZ, signal.SIG_IGN)
    applied = []
    uid = request.get("uid")
    if _unshare(CLONE_NEWNET if os.getuid() == 0 else CLONE_NEWUSER | CLONE_NEWNET):
        applied.append("network-namespace")
    if uid is not None and os.getuid() == 0:
        if request.get("preload"):
            for name in PRELOAD:
                __import__(name)
        # Counted per uid: with a uid of its own, this run cannot starve a parallel one of processes.
        resource.setrlimit(resource.RLIMIT_NPROC, (8, 8))
        os.setgroups([])
        os.setgid(uid)
        os.setuid(uid)
        applied.append("uid")
    applied.append("rlimits")
    return applied


def _unshare(flags):
    try:
        import ctypes

        libc = ctypes.CDLL(None, use_errno=True)
        ok = libc.unshare(flags) == 0
    except Exception:  # noqa: BLE001  (no libc or no unshare: the audit hook still refuses sockets)
        return False
    for name in ("ctypes", "_ctypes", "ctypes._endian"):
        sys.modules.pop(name, None)
    return ok


def install_policy(workdir, stdlib):
    work = os.path.realpath(workdir)
    readable = [work, *(os.path.realpath(path) for path in stdlib)]

    def inside(path, roots):
        if isinstance(path, bytes):
            path = os.fsdecode(path)
        if not isinstance(path, str):
            return False
        full = os.path.realpath(os.path.join(work, path))
        return any(full == root or full.startswith(root + os.sep) for root in roots)

    def hook(event, args):
        if event in DENIED_EVENTS:
            raise PermissionError(f"sandbox: {event} is not allowed")
        if event == "import" and args[0] in DENIED_MODULES:
            raise PermissionError(f"sandbox: importing {args[0]} is not allowed")
        if event == "open":
            path, mode, flags = args
            if isinstance(path, int):
                if path > 2:
                    raise PermissionError("sandbox: opening inherited file descriptors is not allowed")
                return
            writing = (mode is not None and any(c in mode for c in "wax+")) or bool((flags or 0) & WRITE_FLAGS)
            if not inside(path, [work] if writing else readable):
                what = "writing" if writing else "reading"
                raise PermissionError(f"sandbox: {what} {path!r} is outside the working directory")
            return
        indexes = PATH_EVENTS.get(event)
        if indexes is not None:
            for index in indexes:
                if index < len(args) and not isinstance(args[index], int) and not inside(args[index], [work]):
                    raise PermissionError(f"sandbox: {event} on {args[index]!r} is outside the working directory")

    for name in DENIED_MODULES:
        sys.modules.pop(name, None)
    sys.addaudithook(hook)


class CappedStream:
    """A text stream writing through to a file descriptor until ``cap`` bytes, then dropping the rest."""

    def __init__(self, fd, cap):
        self.fd, self.left = fd, cap

    def write(self, text):
        data = str(text).encode("utf-8", "replace")
        if self.left > 0:
            chunk = data[: self.left]
            self.left -= len(chunk)
            try:
                os.write(self.fd, chunk)
            except OSError:
                self.left = 0
        return len(text)

    def flush(self):
        pass

    def isatty(self):
        return False


def describe(error):
    text = f"{type(error).__name__}: {error}" if str(error) else type(error).__name__
    return text if len(text) <= 500 else text[:497] + "..."


def main():
    result_fd = int(sys.argv[1])
    request = json.loads(sys.stdin.read())
    os.close(0)
    nonce = request["nonce"]

    def report(**fields):
        os.write(result_fd, (json.dumps({"nonce": nonce, **fields}) + "\n").encode())

    applied = confine(request)
    report(event="confined", applied=applied)
    cap = request["limits"]["output_bytes"]
    sys.stdout, sys.stderr = CappedStream(1, cap), CappedStream(2, cap)
    install_policy(os.getcwd(), request["stdlib"])

    namespace = {"__name__": "__sandbox__", "__builtins__": __builtins__}
    try:
        exec(compile(request["code"], "<solution>", "exec"), namespace)  # noqa: S102  (running it is the point)
    except BaseException as error:  # noqa: BLE001  (SystemExit and KeyboardInterrupt are the code's errors too)
        report(event="load_error", kind="memory" if isinstance(error, MemoryError) else "error",
               error=describe(error))
        report(event="done")
        return
    report(event="loaded")
    for index, test in enumerate(request["tests"]):
        start = time.perf_counter()
        try:
            exec(compile(test, f"<test {index}>", "exec"), namespace)  # noqa: S102
        except BaseException as error:  # noqa: BLE001
            report(event="test", index=index, passed=False, error=describe(error),
                   kind="memory" if isinstance(error, MemoryError) else "error",
                   seconds=time.perf_counter() - start)
        else:
            report(event="test", index=index, passed=True, error=None, kind=None,
                   seconds=time.perf_counter() - start)
    report(event="done")


main()
