"""Build the Cython im2col core; all metadata lives in pyproject.toml.

Set ``INTRO2AI_NO_CYTHON=1`` to install without a C compiler: the package then
falls back to its pure-NumPy im2col (slower, same results).
"""
import os
import shutil
import subprocess
import sys
import sysconfig
import tempfile

from setuptools import Extension, setup


def _openmp_flags():
    """["-fopenmp"] if the C compiler builds and links an OpenMP program, else [].

    The kernels' ``prange`` loops run in parallel with OpenMP and serially without it, so a
    compiler without OpenMP (e.g. Apple clang) still builds a working extension.
    Set ``INTRO2AI_NO_OPENMP=1`` to skip it.
    """
    if os.environ.get("INTRO2AI_NO_OPENMP", "").strip() not in ("", "0"):
        return []
    if sys.platform == "win32":
        return []
    cc = (os.environ.get("CC") or sysconfig.get_config_var("CC") or "cc").split()
    if not cc or shutil.which(cc[0]) is None:
        return []
    src = "#include <omp.h>\nint main(void) { return omp_get_max_threads() > 0 ? 0 : 1; }\n"
    with tempfile.TemporaryDirectory() as tmp:
        c_file = os.path.join(tmp, "probe.c")
        with open(c_file, "w") as fh:
            fh.write(src)
        try:
            done = subprocess.run(cc + ["-fopenmp", c_file, "-o", os.path.join(tmp, "probe")],
                                  capture_output=True, timeout=60)
        except (OSError, subprocess.SubprocessError):
            return []
    return ["-fopenmp"] if done.returncode == 0 else []


def _extensions():
    if os.environ.get("INTRO2AI_NO_CYTHON", "").strip() not in ("", "0"):
        return []
    from Cython.Build import cythonize

    omp = _openmp_flags()
    ext = Extension(
        "intro2ai._im2col_cython",
        sources=["intro2ai/_im2col_cython.pyx"],
        extra_compile_args=["-O3"] + omp,
        extra_link_args=omp,
    )
    return cythonize(
        [ext],
        language_level=3,
        compiler_directives={"boundscheck": False, "wraparound": False, "cdivision": True},
    )


setup(ext_modules=_extensions())
