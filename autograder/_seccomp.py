"""seccomp filters: no new processes (threads allowed); no mode changes (stdlib only).

The process-count limit where no pids cgroup can be made (a rootless grader, or root where
``/sys/fs/cgroup/pids`` is not writable; RLIMIT_NPROC does not bind root). fork, vfork and
clone without ``CLONE_THREAD`` fail with EAGAIN; clone3 fails with ENOSYS (its flags live in
memory the filter cannot read), so the C library falls back to clone. x86-64 and aarch64 Linux.

Two ways to use it:

* ``no_fork_program()`` returns the compiled BPF program (an array of ``struct sock_filter``),
  the form ``bwrap --seccomp FD`` reads (see ``autograder.jail``);
* ``install_no_fork()`` loads it into the calling process (it is kept across fork and exec).

This file is also bound read-only into the trusted grader's sandbox, where the relay installs
the filter in the process that runs student code: it must import nothing but the standard
library.
"""

import platform
import struct

_LD, _JEQ, _JGE, _JSET, _RET = 0x20, 0x15, 0x35, 0x45, 0x06
_ALLOW, _EAGAIN, _ENOSYS = 0x7FFF0000, 0x00050000 | 11, 0x00050000 | 38
_PRETEND = 0x00050000  # SECCOMP_RET_ERRNO with errno 0: the call returns 0, does nothing
_CLONE_THREAD = 0x00010000


def supported() -> bool:
    """Is the filter known for this machine's architecture?"""
    return platform.machine() in ("x86_64", "aarch64")


#: chmod, chown, extended-attribute (ACL) and timestamp (utime*) writes, per architecture.
_MODE_CALLS = {
    "x86_64": (
        90,
        91,
        268,
        452,
        92,
        93,
        94,
        260,
        188,
        189,
        190,
        197,
        198,
        199,
        463,
        466,
        132,
        235,
        261,
        280,
    ),
    "aarch64": (52, 53, 452, 54, 55, 5, 6, 7, 14, 15, 16, 463, 466, 88),
}


#: System V IPC objects that outlive their process (shmget, msgget, semget).
_SYSV_CALLS = {"x86_64": (29, 68, 64), "aarch64": (194, 186, 190)}


#: Kernel interfaces student code never needs, each a known way in or out of a sandbox:
#: ptrace, process_vm_readv/writev, keyctl/add_key/request_key (keyrings are not namespaced),
#: bpf, perf_event_open, userfaultfd, io_uring_setup/enter/register.
_EXTRA_CALLS = {
    "x86_64": (101, 310, 311, 250, 248, 249, 321, 298, 323, 425, 426, 427),
    "aarch64": (117, 270, 271, 219, 217, 218, 280, 241, 282, 425, 426, 427),
}


def program(
    no_fork: bool = False,
    pin_modes: bool = False,
    no_sysv_ipc: bool = False,
    no_extras: bool = False,
) -> bytes:
    """A filter as raw ``struct sock_filter`` records (raises OSError where unsupported).

    no_fork : fork, vfork and clone without CLONE_THREAD fail with EAGAIN, clone3 with ENOSYS.
    pin_modes : chmod, chown, xattr and timestamp writes do nothing and report success (for a
        sandbox whose uid is root outside: it must not change root's files bound in, e.g. the
        host's ``/dev/null``; pretending keeps ``shutil.copy`` working).
    no_sysv_ipc : shmget, msgget and semget fail with ENOSYS (a detached shared memory
        segment is memory that no rlimit counts; without a memory cgroup nothing does).
    no_extras : the calls of ``_EXTRA_CALLS`` (ptrace, keyrings, bpf, io_uring...) fail with
        ENOSYS.
    System calls of another architecture (x32, i386 on x86-64) fail with ENOSYS.
    """
    machine = platform.machine()
    if machine == "x86_64":
        arch, clone, forks = 0xC000003E, 56, (57, 58)  # clone, fork, vfork
    elif machine == "aarch64":
        arch, clone, forks = 0xC00000B7, 220, ()  # aarch64 has no fork/vfork system calls
    else:
        raise OSError(f"no seccomp filter for {machine}")
    # (op, jump-if-true label, jump-if-false label, k); offsets 16/20 of seccomp_data are the
    # low/high words of args[0], offset 4 the audit architecture, 0 the system call number.
    prog = [(_LD, None, None, 4), (_JEQ, "next", "enosys", arch), (_LD, None, None, 0)]
    if machine == "x86_64":
        prog.append((_JGE, "enosys", "next", 0x40000000))  # x32 system calls
    if pin_modes:
        prog += [(_JEQ, "pretend", "next", nr) for nr in _MODE_CALLS[machine]]
    if no_sysv_ipc:
        prog += [(_JEQ, "enosys", "next", nr) for nr in _SYSV_CALLS[machine]]
    if no_extras:
        prog += [(_JEQ, "enosys", "next", nr) for nr in _EXTRA_CALLS[machine]]
    if no_fork:
        prog += [(_JEQ, "eagain", "next", nr) for nr in forks]
        prog += [
            (_JEQ, "enosys", "next", 435),  # clone3: its flags are out of reach
            (_JEQ, "next", "allow", clone),
            (_LD, None, None, 16),  # low 32 bits of clone's flags
            (_JSET, "allow", "eagain", _CLONE_THREAD),
        ]
    labels = {
        "allow": len(prog),
        "eagain": len(prog) + 1,
        "enosys": len(prog) + 2,
        "pretend": len(prog) + 3,
    }
    prog += [
        (_RET, None, None, _ALLOW),
        (_RET, None, None, _EAGAIN),
        (_RET, None, None, _ENOSYS),
        (_RET, None, None, _PRETEND),
    ]
    code = b""
    for pc, (op, jt, jf, k) in enumerate(prog):

        def off(label, pc=pc):
            return 0 if label in (None, "next") else labels[label] - pc - 1

        code += struct.pack("=HBBI", op, off(jt), off(jf), k)
    return code


def no_fork_program() -> bytes:
    """The no-fork filter alone (see ``program``)."""
    return program(no_fork=True)


def install_no_fork() -> None:
    """Load the no-fork filter into this process (see ``install``)."""
    install(no_fork_program())


def install(code: bytes) -> None:
    """Load a filter from ``program`` into this process (PR_SET_NO_NEW_PRIVS first; raises
    OSError)."""
    import ctypes

    buf = ctypes.create_string_buffer(code, len(code))
    fprog = struct.pack("@HP", len(code) // 8, ctypes.addressof(buf))  # struct sock_fprog
    libc = ctypes.CDLL(None, use_errno=True)
    libc.prctl.argtypes = [
        ctypes.c_int,
        ctypes.c_ulong,
        ctypes.c_void_p,
        ctypes.c_ulong,
        ctypes.c_ulong,
    ]
    if libc.prctl(38, 1, None, 0, 0) != 0:  # PR_SET_NO_NEW_PRIVS
        raise OSError(ctypes.get_errno(), "prctl(PR_SET_NO_NEW_PRIVS)")
    fbuf = ctypes.create_string_buffer(fprog, len(fprog))
    if libc.prctl(22, 2, ctypes.addressof(fbuf), 0, 0) != 0:  # PR_SET_SECCOMP, FILTER
        raise OSError(ctypes.get_errno(), "prctl(PR_SET_SECCOMP)")
