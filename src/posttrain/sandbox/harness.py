"""The child side of the sandbox: limit this process, run the code, make each call, report line by line.

This file is not imported by the package: the executor passes its source to ``python -I -S -B -c``
(inside bubblewrap, see ``isolation.py``) so the child needs nothing but the standard library. Its
input is one JSON object on stdin::

    {"code": str, "nonce": str, "limits": {...}, "stdlib": [dir],
     "tests": [{"kind": "call", "function", "args": repr, "kwargs": repr} | {"kind": "assert", "source"}]}

and it writes JSON lines to the file descriptor named by ``argv[1]``, each carrying the nonce::

    {"nonce", "event": "confined"}                             limits set, about to read the code
    {"nonce", "event": "loaded"}                                the code ran to its end
    {"nonce", "event": "load_error", "kind", "error"}           the code raised (kind: error | memory)
    {"nonce", "event": "value", "index", "value", "seconds"}    a call returned (the value's repr)
    {"nonce", "event": "test", "index", "passed", "error", "seconds", "kind"}
    {"nonce", "event": "done"}

Nothing here is trusted by the caller: the program under test runs in this interpreter and can
rewrite anything in it. For a call, the caller compares the value sent with the expected value it
alone holds; an assert's ``passed`` is taken on trust, which is why asserts are the hackable kind of
test (``checks.py``). The kernel (namespaces, seccomp) is what confines; the resource limits and the
audit hook below are extra layers, the hook written so that rebinding module globals or builtins
does not switch it off (everything it uses is bound in its closure when it is installed).
"""

import ast
import json
import os
import resource
import signal
import sys
import time

# Audit events refused outright: new processes, sockets, native calls, signals, links, environment writes.
DENIED_EVENTS = frozenset({
    "os.fork", "os.forkpty", "os.exec", "os.spawn", "os.posix_spawn", "os.system", "os.startfile",
    "subprocess.Popen", "pty.spawn", "os.kill", "os.killpg", "signal.pthread_kill",
    "socket.__new__", "socket.connect", "socket.bind", "socket.getaddrinfo", "socket.sendto",
    "ctypes.dlopen", "ctypes.dlsym", "ctypes.call_function", "ctypes.cdata", "ctypes.addressof",
    "os.symlink", "os.link", "os.putenv", "os.unsetenv", "os.chown", "os.setxattr", "os.removexattr",
    "mmap.__new__", "os.mkfifo", "os.mknod",
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
WRITE_FLAGS = os.O_WRONLY | os.O_RDWR | os.O_CREAT | os.O_TRUNC | os.O_APPEND
MAX_VALUE_CHARS = 100_000
PLAIN = (type(None), bool, int, float, str, bytes, complex)


def limit_resources(limits):
    cpu = max(1, int(limits["cpu_s"] + 0.999))
    resource.setrlimit(resource.RLIMIT_CPU, (cpu, cpu + 1))
    memory = limits["memory_mb"] * 1024 * 1024
    resource.setrlimit(resource.RLIMIT_AS, (memory, memory))
    resource.setrlimit(resource.RLIMIT_FSIZE, (limits["file_bytes"], limits["file_bytes"]))
    resource.setrlimit(resource.RLIMIT_NOFILE, (64, 64))
    resource.setrlimit(resource.RLIMIT_CORE, (0, 0))
    # A write past the file-size limit fails with an OSError instead of killing the process.
    signal.signal(signal.SIGXFSZ, signal.SIG_IGN)


def install_policy(workdir, stdlib):
    """An audit hook refusing what the code has no business doing. Everything it calls is bound here,
    in its closure and default arguments, so the code cannot rebind it away through module globals."""
    realpath, join, sep, fsdecode = os.path.realpath, os.path.join, os.sep, os.fsdecode
    work = realpath(workdir)
    readable = (work, *(realpath(path) for path in stdlib))
    writable = (work,)
    denied_events, denied_modules, path_events = DENIED_EVENTS, DENIED_MODULES, dict(PATH_EVENTS)
    write_flags = WRITE_FLAGS
    str_type, bytes_type, int_type = str, bytes, int

    def inside(path, roots):
        if type(path) is bytes_type:
            path = fsdecode(path)
        if type(path) is not str_type:
            return False
        full = realpath(join(work, path))
        for root in roots:
            if full == root or full.startswith(root + sep):
                return True
        return False

    def hook(event, args):
        if event in denied_events:
            raise PermissionError("sandbox: " + event + " is not allowed")
        if event == "import" and args[0] in denied_modules:
            raise PermissionError("sandbox: importing " + str(args[0]) + " is not allowed")
        if event == "open":
            path, mode, flags = args
            if type(path) is int_type:
                if path > 2:
                    raise PermissionError("sandbox: opening inherited file descriptors is not allowed")
                return
            writing = (mode is not None and ("w" in mode or "a" in mode or "x" in mode or "+" in mode)) \
                or bool((flags or 0) & write_flags)
            if not inside(path, writable if writing else readable):
                raise PermissionError("sandbox: " + ("writing " if writing else "reading ") + repr(path)
                                      + " is outside the working directory")
            return
        indexes = path_events.get(event)
        if indexes is not None:
            for index in indexes:
                if index < len(args) and type(args[index]) is not int_type and not inside(args[index], writable):
                    raise PermissionError("sandbox: " + event + " on " + repr(args[index])
                                          + " is outside the working directory")

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


def literal_text(value, depth=0):
    """``repr(value)`` when the value is made of plain types only (so the caller can parse it back), else a TypeError."""
    if depth > 50:
        raise TypeError("the returned value is nested more than 50 levels deep")
    kind = type(value)
    if kind in PLAIN:
        return repr(value)
    if kind in (list, tuple, set, frozenset):
        for item in value:
            literal_text(item, depth + 1)
    elif kind is dict:
        for key, item in value.items():
            literal_text(key, depth + 1)
            literal_text(item, depth + 1)
    else:
        raise TypeError(f"returned a {kind.__name__}, not a plain value (number, string, list, tuple, dict, set)")
    return repr(value) if depth else _capped(repr(value))


def _capped(text):
    if len(text) > MAX_VALUE_CHARS:
        raise ValueError(f"the returned value's text is longer than {MAX_VALUE_CHARS} characters")
    return text


def main():
    result_fd = int(sys.argv[1])
    request = json.loads(sys.stdin.read())
    os.close(0)
    nonce = request["nonce"]
    dumps, write, clock = json.dumps, os.write, time.perf_counter

    def report(**fields):
        write(result_fd, (dumps({"nonce": nonce, **fields}) + "\n").encode())

    limit_resources(request["limits"])
    report(event="confined")
    cap = request["limits"]["output_bytes"]
    sys.stdout, sys.stderr = CappedStream(1, cap), CappedStream(2, cap)
    # Parsed before the code runs: the code cannot change what it is called with.
    calls = [(test["function"], ast.literal_eval(test["args"]), ast.literal_eval(test["kwargs"]))
             if test["kind"] == "call" else test["source"] for test in request["tests"]]
    if request["limits"].get("audit_hook", True):
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
    for index, test in enumerate(calls):
        start = clock()
        try:
            if isinstance(test, str):
                exec(compile(test, f"<test {index}>", "exec"), namespace)  # noqa: S102
            else:
                function, args, kwargs = test
                if function not in namespace:
                    raise NameError(f"name '{function}' is not defined")
                value = literal_text(namespace[function](*args, **kwargs))
        except BaseException as error:  # noqa: BLE001
            report(event="test", index=index, passed=False, error=describe(error),
                   kind="memory" if isinstance(error, MemoryError) else "error", seconds=clock() - start)
        else:
            if isinstance(test, str):
                report(event="test", index=index, passed=True, error=None, kind=None, seconds=clock() - start)
            else:
                report(event="value", index=index, value=value, seconds=clock() - start)
    report(event="done")


main()
