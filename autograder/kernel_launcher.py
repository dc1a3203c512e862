"""Start an IPython kernel for nbgrader autograde with resource limits.

The kernelspec written by :func:`autograder.notebook_step.write_kernelspec` runs this file as a
program (``python -I .../kernel_launcher.py -f CONNECTION_FILE``); it uses the standard library
only. Settings come from the environment: ``INTRO2AI_KERNEL_LIMITS`` (JSON), ``INTRO2AI_KERNEL_JOBDIR``
and ``INTRO2AI_KERNEL_PROVIDED``; they are removed before the kernel starts.
"""
import json
import os
import resource
import struct
import sys


def join_cgroups(limits, pid):
    """Put ``pid`` into new pids and memory cgroups (v1) where they can be made; returns
    ``{controller: cgroup folder}``."""
    in_cgroup = {}
    for ctrl, files in (("pids", {"pids.max": limits.get("tasks")}),
                        ("memory", {"memory.limit_in_bytes": limits.get("memory"),
                                    "memory.memsw.limit_in_bytes": limits.get("memory")})):
        base = os.path.join("/sys/fs/cgroup", ctrl)
        d = os.path.join(base, "intro2ai-kernel-%d" % pid)
        try:
            os.mkdir(d)
        except OSError:
            continue
        try:
            for name, value in files.items():
                if value:
                    try:
                        with open(os.path.join(d, name), "w") as f:
                            f.write(str(value))
                    except OSError:
                        if name == "memory.memsw.limit_in_bytes":
                            continue  # swap accounting off: fine
                        raise
            with open(os.path.join(d, "cgroup.procs"), "w") as f:
                f.write(str(pid))
            in_cgroup[ctrl] = d
        except OSError:
            try:
                os.rmdir(d)
            except OSError:
                pass
    return in_cgroup


def protect_filesystem(writable):
    """Private mount namespace: everything read-only except ``writable``; drop the capabilities
    that could undo it (root only; raises OSError where the system does not allow it)."""
    import ctypes
    CLONE_NEWNS = 0x00020000
    MS_RDONLY, MS_NOSUID, MS_NODEV, MS_NOEXEC = 1, 2, 4, 8
    MS_REMOUNT, MS_BIND, MS_REC, MS_PRIVATE = 32, 4096, 16384, 1 << 18
    MS_NOATIME, MS_NODIRATIME, MS_RELATIME = 1024, 2048, 1 << 21
    libc = ctypes.CDLL(None, use_errno=True)
    libc.mount.argtypes = [ctypes.c_char_p, ctypes.c_char_p, ctypes.c_char_p, ctypes.c_ulong, ctypes.c_void_p]

    def mount(src, dst, flags):
        if libc.mount(src.encode() if src else None, dst.encode(), None, flags, None) != 0:
            err = ctypes.get_errno()
            raise OSError(err, os.strerror(err), dst)

    if libc.unshare(CLONE_NEWNS) != 0:
        err = ctypes.get_errno()
        raise OSError(err, os.strerror(err), "unshare(CLONE_NEWNS)")
    mount(None, "/", MS_REC | MS_PRIVATE)
    keep = []
    for d in writable:
        d = os.path.realpath(d)
        mount(d, d, MS_BIND | MS_REC)
        keep.append(d)
    os.chdir(os.path.realpath(os.getcwd()))  # onto the writable bind mount
    with open("/proc/self/mountinfo") as f:
        entries = [line.split() for line in f]
    for e in entries:
        mp = e[4].replace("\\040", " ")
        if mp.startswith(("/proc", "/dev")) or any(mp == k or mp.startswith(k + "/") for k in keep):
            continue
        opts = e[5].split(",")
        flags = MS_REMOUNT | MS_BIND | MS_RDONLY
        for name, bit in (("nosuid", MS_NOSUID), ("nodev", MS_NODEV), ("noexec", MS_NOEXEC),
                          ("noatime", MS_NOATIME), ("nodiratime", MS_NODIRATIME), ("relatime", MS_RELATIME)):
            if name in opts:
                flags |= bit
        try:
            mount(None, mp, flags)
        except OSError:
            if mp == "/":
                raise
    # SYS_ADMIN (mount, unshare, setns), SYS_MODULE, SYS_RAWIO, SYS_PTRACE, SYS_RESOURCE (raise
    # limits), SETPCAP, SYS_TIME, SYS_BOOT, MKNOD, DAC_READ_SEARCH (open_by_handle), BPF.
    for cap in (21, 16, 17, 19, 24, 8, 25, 22, 27, 2, 39):
        libc.prctl(24, cap, 0, 0, 0)  # PR_CAPBSET_DROP: gone after exec



def forbid_new_processes():
    """seccomp filter: threads may be created, processes not (fork, vfork, clone without
    CLONE_THREAD fail with EAGAIN; clone3 with ENOSYS, so libc falls back to clone).

    The process-count limit for root, which RLIMIT_NPROC does not bind, where no pids cgroup
    can be made. Returns False on an architecture it does not know.
    """
    import ctypes, platform
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
    prog += [(JEQ, "enosys", "next", 435),  # clone3: its flags are out of the filter's reach
             (JEQ, "next", "allow", clone),
             (LD, None, None, 16),  # low 32 bits of the flags
             (JSET, "allow", "eagain", 0x00010000)]  # CLONE_THREAD
    labels = {"allow": len(prog), "eagain": len(prog) + 1, "enosys": len(prog) + 2}
    prog += [(RET, None, None, ALLOW), (RET, None, None, EAGAIN), (RET, None, None, ENOSYS)]
    code = b""
    for pc, (op, jt, jf, k) in enumerate(prog):
        off = lambda lab: 0 if lab in (None, "next") else labels[lab] - pc - 1
        code += struct.pack("=HBBI", op, off(jt), off(jf), k)
    buf = ctypes.create_string_buffer(code, len(code))
    fprog = struct.pack("@HP", len(prog), ctypes.addressof(buf))  # struct sock_fprog
    libc = ctypes.CDLL(None, use_errno=True)
    libc.prctl.argtypes = [ctypes.c_int, ctypes.c_ulong, ctypes.c_void_p, ctypes.c_ulong, ctypes.c_ulong]
    if libc.prctl(38, 1, None, 0, 0) != 0:  # PR_SET_NO_NEW_PRIVS
        raise OSError(ctypes.get_errno(), "prctl(PR_SET_NO_NEW_PRIVS)")
    fbuf = ctypes.create_string_buffer(fprog, len(fprog))
    if libc.prctl(22, 2, ctypes.addressof(fbuf), 0, 0) != 0:  # PR_SET_SECCOMP, SECCOMP_MODE_FILTER
        raise OSError(ctypes.get_errno(), "prctl(PR_SET_SECCOMP)")
    return True



def cap(which, value):
    if not value:
        return
    soft, hard = resource.getrlimit(which)
    if hard != resource.RLIM_INFINITY:
        value = min(value, hard)
    resource.setrlimit(which, (value, value))


def place_provided(provided, dest):
    """Like nbgrader does for source files: every file of the released folder except notebooks
    and the files students edit (``provided["keep"]``) is (re)placed in ``dest`` with the release
    version, so the notebook runs on the provided package even when the hand-in holds only the
    student files; ``provided["extra"]`` lists ``[source, relative destination]`` pairs to add."""
    import shutil
    keep = set(provided.get("keep", []))
    for dirpath, dirnames, filenames in os.walk(provided["release"]):
        dirnames[:] = [d for d in dirnames if d not in ("__pycache__", ".ipynb_checkpoints")]
        for name in filenames:
            src = os.path.join(dirpath, name)
            rel = os.path.relpath(src, provided["release"]).replace(os.sep, "/")
            if rel.endswith(".ipynb") or rel in keep:
                continue
            dst = os.path.join(dest, rel)
            os.makedirs(os.path.dirname(dst), exist_ok=True)
            if os.path.lexists(dst):
                os.remove(dst) if not os.path.isdir(dst) or os.path.islink(dst) else shutil.rmtree(dst)
            shutil.copyfile(src, dst)
    for src, rel in provided.get("extra", []):
        dst = os.path.join(dest, rel)
        os.makedirs(os.path.dirname(dst), exist_ok=True)
        shutil.copyfile(src, dst)


def main(argv=None):
    argv = sys.argv[1:] if argv is None else argv
    limits = json.loads(os.environ.get("INTRO2AI_KERNEL_LIMITS", "{}"))
    jobdir = os.environ.get("INTRO2AI_KERNEL_JOBDIR")
    pid = os.getpid()
    in_cgroup = join_cgroups(limits, pid)
    isolation = "rlimits"
    if in_cgroup:
        isolation += "+cgroup:" + ",".join(sorted(in_cgroup))
    ktmp = limits.get("tmp")
    if ktmp:
        os.makedirs(ktmp, exist_ok=True)
        for var in ("TMPDIR", "HOME", "MPLCONFIGDIR", "IPYTHONDIR"):
            os.environ[var] = ktmp
    listing = None
    if jobdir:
        # The kernel's own stdout and stderr (startup warnings, crashes, raw writes to fd 1 or 2 that
        # ipykernel does not capture) go to a log file of the job, never to the batch's terminal.
        # Both files are opened before the file system turns read-only: the job folder (which holds
        # the worker's own files) stays out of the kernel's reach.
        fd = os.open(os.path.join(jobdir, "kernel-output.txt"), os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o600)
        os.dup2(fd, 1)
        os.dup2(fd, 2)
        os.close(fd)
        fd = os.open(os.devnull, os.O_RDONLY)
        os.dup2(fd, 0)
        os.close(fd)
        listing = os.open(os.path.join(jobdir, "kernels.txt"), os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o600)
    if limits.get("protect") and os.geteuid() == 0 and ktmp:
        try:
            protect_filesystem([os.getcwd(), ktmp])
            isolation += "+readonly-fs"
        except OSError as exc:
            isolation += "(no readonly-fs: %s)" % exc

    # Provided files: like nbgrader does for source files, every file of the released folder except
    # notebooks and the files students edit is (re)placed with the release version, so the notebook
    # runs on the provided package even when the hand-in holds only the student files.
    provided = json.loads(os.environ.get("INTRO2AI_KERNEL_PROVIDED", "null") or "null")
    if provided and os.path.realpath(os.getcwd()) == os.path.realpath(provided["dest"]):
        place_provided(provided, os.getcwd())

    cap(resource.RLIMIT_AS, limits.get("memory"))
    cap(resource.RLIMIT_FSIZE, limits.get("file"))
    resource.setrlimit(resource.RLIMIT_CORE, (0, 0))
    if "pids" not in in_cgroup and os.geteuid() != 0:
        # No pids cgroup: RLIMIT_NPROC counts every process of this user, so leave room for theirs.
        mine = 0
        for entry in os.listdir("/proc"):
            if entry.isdigit():
                try:
                    if os.stat("/proc/" + entry).st_uid == os.geteuid():
                        mine += 1
                except OSError:
                    pass
        cap(resource.RLIMIT_NPROC, mine + int(limits.get("tasks") or 128))
    if limits.get("forbid_processes") or ("pids" not in in_cgroup and os.geteuid() == 0):
        # Root is exempt from RLIMIT_NPROC: without a pids cgroup the kernel may not start processes.
        try:
            if forbid_new_processes():
                isolation += "+no-fork"
        except (OSError, ValueError, struct.error) as exc:
            isolation += "(no process limit: %s)" % exc
    if listing is not None:
        entry = {"pid": pid, "cgroups": list(in_cgroup.values()), "isolation": isolation}
        os.write(listing, (json.dumps(entry) + "\n").encode())
        os.close(listing)
    for var in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS"):
        os.environ[var] = "1"
    os.environ["MPLBACKEND"] = "Agg"
    for var in ("INTRO2AI_KERNEL_LIMITS", "INTRO2AI_KERNEL_JOBDIR", "INTRO2AI_KERNEL_PROVIDED"):
        os.environ.pop(var, None)
    # jupyter_client starts kernels with close_fds=False: without this the kernel would inherit the
    # grading worker's descriptors (its result pipes among them) and student code could write to them.
    os.closerange(3, 1 << 20)
    os.execv(sys.executable, [sys.executable, "-m", "ipykernel_launcher"] + argv)


if __name__ == "__main__":
    main()
