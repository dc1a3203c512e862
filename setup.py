"""Build the Cython core (im2col, pooling, direct convolution); metadata is in pyproject.toml.

Set ``INTRO2AI_NO_CYTHON=1`` to install without a C compiler: the package then
falls back to its pure-NumPy im2col (slower, same results).
"""

import os

from setuptools import Extension, setup


def _extensions():
    if os.environ.get("INTRO2AI_NO_CYTHON", "").strip() not in ("", "0"):
        return []
    from Cython.Build import cythonize

    ext = Extension(
        "intro2ai._im2col_cython",
        sources=["intro2ai/_im2col_cython.pyx"],
        # The C kernels the .pyx includes: the direct convolution's, the Winograd transforms'
        # and Adam's.
        depends=[
            "intro2ai/_adam.h",
            "intro2ai/_direct_conv.h",
            "intro2ai/_direct_conv_driver.h",
            "intro2ai/_direct_conv_kernels.h",
            "intro2ai/_winograd.h",
            "intro2ai/_winograd_kernels.h",
        ],
        # -fno-math-errno: sqrt need not set errno, so loops calling it can be vectorised.
        extra_compile_args=["-O3", "-fno-math-errno"],
    )
    return cythonize(
        [ext],
        language_level=3,
        compiler_directives={"boundscheck": False, "wraparound": False, "cdivision": True},
    )


setup(ext_modules=_extensions())
