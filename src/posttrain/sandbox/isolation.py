"""Kernel-level isolation for one untrusted program: a bubblewrap command line and its seccomp filter.

Each run gets, from bubblewrap (Debian's ``bubblewrap``):

- new user, PID, mount, network, IPC, UTS and cgroup namespaces, running as uid/gid 65534 inside;
- a read-only view of ``/usr`` and of the interpreter's own prefix (its ``site-packages`` hidden under
  an empty tmpfs), a fresh ``/proc`` of its PID namespace and a minimal ``/dev``, and nothing else of
  the caller's file system;
- a private, size-limited tmpfs as its working directory ``/tmp`` (the only writable place);
- a new session (no terminal to push keystrokes into) and death with its parent: when the caller
  kills bubblewrap, the PID namespace's init dies and the kernel kills every process left in it.

and from a seccomp filter (built with libseccomp's Python bindings, ``pyseccomp``) that refuses new
processes (``fork``, ``vfork``, ``clone`` without ``CLONE_THREAD``; ``clone3`` answers ENOSYS so the C
library falls back to ``clone`` for threads), sockets, and the kernel interfaces a program of this
kind never needs (namespaces, mounts, ptrace, BPF, keyrings, io_uring, modules, ...). Syscalls of
another ABI (i386, x32) kill the process, libseccomp's default for a foreign architecture.

The Python audit hook of ``harness.py`` stays as an extra layer; nothing here relies on it.

Without bubblewrap or libseccomp, :func:`check_available` raises a one-line error naming the package.
``POSTTRAIN_SANDBOX=weak`` in the environment is the explicit opt-out for machines that cannot have
them (macOS, a container without user namespaces): the program then runs as a plain child process
under resource limits and the audit hook only, which a determined program can get around. Each run's
``isolation`` field says which was used.
"""

from __future__ import annotations

import errno
import functools
import os
import shutil
import sys
import sysconfig

from posttrain.errors import UserError

SANDBOX_UID = 65534  # "nobody" inside the user namespace
WORKDIR = "/tmp"  # the run's private tmpfs, as the program sees it
WEAK_ENV = "POSTTRAIN_SANDBOX"  # =weak: no kernel isolation, by the user's explicit choice

# Refused with EPERM whatever their arguments: what a short program computing a value never needs,
# and what an escape would start from.
DENIED_SYSCALLS = (
    "fork", "vfork", "execveat", "ptrace", "process_vm_readv", "process_vm_writev", "pidfd_open",
    "pidfd_getfd", "pidfd_send_signal", "socket", "socketpair", "mount", "umount2", "pivot_root",
    "chroot", "unshare", "setns", "move_mount", "open_tree", "fsopen", "fsmount", "fsconfig",
    "fspick", "mount_setattr", "keyctl", "add_key", "request_key", "bpf", "perf_event_open",
    "userfaultfd", "io_uring_setup", "io_uring_enter", "io_uring_register", "kexec_load",
    "kexec_file_load", "init_module", "finit_module", "delete_module", "reboot", "swapon", "swapoff",
    "acct", "quotactl", "personality", "syslog", "mknod", "mknodat", "open_by_handle_at",
    "name_to_handle_at", "lookup_dcookie", "fanotify_init", "settimeofday", "clock_settime",
    "clock_adjtime", "adjtimex", "iopl", "ioperm", "vhangup", "setuid", "setgid", "setreuid",
    "setregid", "setresuid", "setresgid", "setgroups", "setfsuid", "setfsgid",
)
CLONE_THREAD = 0x00010000


class SandboxUnavailable(UserError):
    """The kernel isolation the sandbox needs is missing on this machine."""


def weak_mode() -> bool:
    """Whether the user chose to run without kernel isolation (``POSTTRAIN_SANDBOX=weak``)."""
    value = os.environ.get(WEAK_ENV, "").strip().lower()
    if value in ("", "bwrap", "strict"):
        return False
    if value == "weak":
        return True
    raise UserError(f"{WEAK_ENV} must be 'weak' (no kernel isolation) or unset, got {value!r}")


def check_available() -> None:
    """Raise :class:`SandboxUnavailable` (one line, naming the package) unless bubblewrap and libseccomp work."""
    if shutil.which("bwrap") is None:
        raise SandboxUnavailable(
            "the code sandbox needs bubblewrap: install Debian's 'bubblewrap' package "
            f"(apt-get install bubblewrap), or set {WEAK_ENV}=weak to run model-written code without "
            "kernel isolation")
    seccomp_program()


@functools.cache
def seccomp_program() -> bytes:
    """The filter as a BPF program (bytes), built once per process."""
    try:
        import pyseccomp as seccomp
    except ImportError as error:  # the module, or libseccomp.so.2 under it
        raise SandboxUnavailable(
            "the code sandbox needs libseccomp's Python bindings: pip install pyseccomp (and Debian's "
            f"'libseccomp2' package); or set {WEAK_ENV}=weak to run without kernel isolation ({error})"
        ) from None
    deny = seccomp.ERRNO(errno.EPERM)
    program = seccomp.SyscallFilter(seccomp.ALLOW)
    for name in DENIED_SYSCALLS:
        try:
            program.add_rule(deny, name)
        except (OSError, ValueError):  # a syscall this architecture does not have (fork on arm64)
            continue
    # clone(flags, ...): threads (CLONE_THREAD set) are allowed, new processes are not.
    program.add_rule(deny, "clone", seccomp.Arg(0, seccomp.MASKED_EQ, CLONE_THREAD, 0))
    # clone3 passes its flags in a struct seccomp cannot read: ENOSYS makes glibc fall back to clone.
    program.add_rule(seccomp.ERRNO(errno.ENOSYS), "clone3")
    # ioctl(fd, TIOCSTI): pushing keystrokes into a terminal (also prevented by --new-session).
    program.add_rule(deny, "ioctl", seccomp.Arg(1, seccomp.MASKED_EQ, 0xFFFFFFFF, 0x5412))
    fd = os.memfd_create("posttrain-seccomp")
    try:
        with os.fdopen(os.dup(fd), "wb") as file:
            program.export_bpf(file)
        os.lseek(fd, 0, os.SEEK_SET)
        chunks = []
        while chunk := os.read(fd, 65536):
            chunks.append(chunk)
    finally:
        os.close(fd)
    return b"".join(chunks)


@functools.cache
def _interpreter() -> tuple[str, tuple[str, ...]]:
    """The real interpreter binary and the read-only directories it needs outside /usr."""
    executable = os.path.realpath(getattr(sys, "_base_executable", None) or sys.executable)
    roots = []
    for path in (sys.base_prefix, sys.base_exec_prefix, os.path.dirname(os.path.dirname(executable))):
        path = os.path.realpath(path)
        if not (path == "/usr" or path.startswith("/usr/")) and path not in roots:
            roots.append(path)
    return executable, tuple(roots)


def _hidden_dirs() -> list[str]:
    """Installed packages' directories (under the prefix or /usr): hidden, so the program sees the standard library only."""
    paths = sysconfig.get_paths()
    hidden = []
    for key in ("purelib", "platlib"):
        path = os.path.realpath(paths[key])
        if os.path.isdir(path) and path not in hidden:
            hidden.append(path)
    return hidden


def bwrap_command(argv: list[str], *, seccomp_fd: int, disk_bytes: int, env: dict[str, str]) -> list[str]:
    """The bubblewrap command line running ``argv`` (``argv[0]`` the interpreter, see :func:`interpreter`)."""
    _, roots = _interpreter()
    command = ["bwrap", "--unshare-all", "--unshare-user", "--uid", str(SANDBOX_UID), "--gid", str(SANDBOX_UID),
               "--die-with-parent", "--new-session", "--hostname", "sandbox",
               "--ro-bind", "/usr", "/usr", "--symlink", "usr/lib", "/lib", "--symlink", "usr/lib64", "/lib64",
               "--symlink", "usr/bin", "/bin"]
    for root in roots:
        command += ["--ro-bind", root, root]
    for path in _hidden_dirs():
        command += ["--tmpfs", path]
    command += ["--proc", "/proc", "--dev", "/dev",
                "--size", str(disk_bytes), "--perms", "0700", "--tmpfs", WORKDIR, "--chdir", WORKDIR,
                "--clearenv"]
    for key, value in env.items():
        command += ["--setenv", key, value]
    command += ["--seccomp", str(seccomp_fd), "--", *argv]
    return command


def interpreter() -> str:
    return _interpreter()[0]


@functools.cache
def stdlib_dirs() -> tuple[str, ...]:
    """The standard library's directories: the audit hook lets the code read there."""
    paths = sysconfig.get_paths()
    return tuple(sorted({paths["stdlib"], paths["platstdlib"], os.path.dirname(os.__file__)}))
