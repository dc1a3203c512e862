"""Start the IPython kernel of nbgrader autograde, inside the nbgrader step's sandbox.

The sandbox (:mod:`autograder.jail`) already gives the namespaces, the read-only file system,
the rlimits, the memory and process limits of the whole step and the environment (one BLAS
thread, ``MPLBACKEND=Agg``). This program, run as a file with ``python -I`` by the kernelspec
(standard library only), adds what only the kernel needs: no new processes (a seccomp filter:
nbgrader itself must start the kernel, so the filter cannot cover the whole sandbox), the kit's
compiled extension in the notebook's folder, and no inherited descriptors.
"""

import json
import os
import struct
import sys


def forbid_new_processes():
    """seccomp filter: threads may be created, processes not (fork, vfork, clone without
    CLONE_THREAD fail with EAGAIN; clone3 with ENOSYS, so libc falls back to clone).

    The process-count limit for root, which RLIMIT_NPROC does not bind, where no pids cgroup
    can be made. Returns False on an architecture it does not know.
    """
    import ctypes
    import platform

    machine = platform.machine()
    if machine == "x86_64":
        arch, clone, forks = 0xC000003E, 56, (57, 58)
    elif machine == "aarch64":
        arch, clone, forks = 0xC00000B7, 220, ()
    else:
        return False
    LD, JEQ, JGE, JSET, RET = 0x20, 0x15, 0x35, 0x45, 0x06
    ALLOW, EAGAIN, ENOSYS = 0x7FFF0000, 0x00050000 | 11, 0x00050000 | 38
    prog = [(LD, None, None, 4), (JEQ, "next", "enosys", arch), (LD, None, None, 0)]
    if machine == "x86_64":
        prog.append((JGE, "enosys", "next", 0x40000000))  # x32 system calls
    prog += [(JEQ, "eagain", "next", nr) for nr in forks]
    prog += [
        (JEQ, "enosys", "next", 435),  # clone3: its flags are out of the filter's reach
        (JEQ, "next", "allow", clone),
        (LD, None, None, 16),  # low 32 bits of the flags
        (JSET, "allow", "eagain", 0x00010000),
    ]  # CLONE_THREAD
    labels = {"allow": len(prog), "eagain": len(prog) + 1, "enosys": len(prog) + 2}
    prog += [(RET, None, None, ALLOW), (RET, None, None, EAGAIN), (RET, None, None, ENOSYS)]
    code = b""

    def offset(label: str | None, pc: int) -> int:
        return 0 if label in (None, "next") else labels[label] - pc - 1

    for pc, (op, jt, jf, k) in enumerate(prog):
        code += struct.pack("=HBBI", op, offset(jt, pc), offset(jf, pc), k)
    buf = ctypes.create_string_buffer(code, len(code))
    fprog = struct.pack("@HP", len(prog), ctypes.addressof(buf))  # struct sock_fprog
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
    if libc.prctl(22, 2, ctypes.addressof(fbuf), 0, 0) != 0:  # PR_SET_SECCOMP, SECCOMP_MODE_FILTER
        raise OSError(ctypes.get_errno(), "prctl(PR_SET_SECCOMP)")
    return True


def place_extensions(extra, dest):
    """Copy the kit's compiled extension (``[[source, relative destination], ...]``, sources
    bound read-only) into the notebook's folder: nbgrader's copy skips ``*.so`` files."""
    import shutil

    for src, rel in extra:
        dst = os.path.join(dest, rel)
        os.makedirs(os.path.dirname(dst), exist_ok=True)
        if os.path.lexists(dst):
            os.remove(dst) if not os.path.isdir(dst) or os.path.islink(dst) else shutil.rmtree(dst)
        shutil.copyfile(src, dst)


def main(argv=None):
    """Settings come from the sandbox's environment: ``INTRO2AI_KERNEL_NO_FORK=1`` (no new
    processes), ``INTRO2AI_KERNEL_EXTENSIONS`` (JSON list for :func:`place_extensions`)."""
    argv = sys.argv[1:] if argv is None else argv
    extra = json.loads(os.environ.pop("INTRO2AI_KERNEL_EXTENSIONS", "[]") or "[]")
    if extra:
        place_extensions(extra, os.getcwd())
    no_fork = os.environ.pop("INTRO2AI_KERNEL_NO_FORK", "") == "1"
    if no_fork and not forbid_new_processes():
        raise SystemExit(
            "kernel_launcher: no seccomp filter for this architecture; refusing to "
            "start a kernel that could start processes"
        )
    # jupyter_client starts kernels with close_fds=False: the kernel would inherit nbgrader's
    # descriptors (its gradebook connection among them).
    os.closerange(3, 1 << 20)
    os.execv(sys.executable, [sys.executable, "-m", "ipykernel_launcher"] + argv)


if __name__ == "__main__":
    main()
