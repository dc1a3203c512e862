"""The one place that knows whether the Cython im2col core is built.

``intro2ai.fast_layers`` asks :func:`backend` for the kernels to use. When
``intro2ai._im2col_cython`` cannot be imported (not compiled, compiled for another Python,
hidden), the pure-NumPy fallback ``intro2ai._im2col_numpy`` is returned instead and a single
``RuntimeWarning`` names the fix. Importing ``intro2ai`` never fails because of the extension.
"""

from __future__ import annotations

import types
import warnings

__all__ = ["backend", "cython_module", "is_built", "import_error", "MISSING_MESSAGE"]

MISSING_MESSAGE = (
    "intro2ai: the Cython extension intro2ai._im2col_cython is not built ({error}); "
    "the fast layers use the pure-NumPy fallback (same results, slower). "
    "To build it run `make compile-cython` "
    "(or `python setup.py build_ext --inplace`) in the kit folder."
)

# Must equal KERNEL_API in _im2col_cython.pyx: a build from older sources is not used.
KERNEL_API = 9

_state: dict = {"loaded": False, "module": None, "error": None, "warned": False}


def _load() -> None:
    if _state["loaded"]:
        return
    try:
        from intro2ai import _im2col_cython as module
    except ImportError as exc:  # not built, built for another Python, or hidden
        _state["module"] = None
        _state["error"] = exc
    else:
        found = getattr(module, "KERNEL_API", None)
        if found == KERNEL_API:
            _state["module"] = module
        else:
            _state["error"] = ImportError(
                f"the build at {getattr(module, '__file__', '?')} is stale: kernel API "
                f"{found}, this intro2ai needs {KERNEL_API}"
            )
    _state["loaded"] = True


def cython_module() -> types.ModuleType | None:
    """The compiled module, or None when it is not available (no warning)."""
    _load()
    return _state["module"]


def is_built() -> bool:
    """True when ``intro2ai._im2col_cython`` imports."""
    return cython_module() is not None


def import_error() -> ImportError | None:
    """The ImportError raised when loading the extension failed, else None."""
    _load()
    return _state["error"]


def backend() -> tuple[str, types.ModuleType | None]:
    """Return ``("cython", module)`` or ``("numpy", None)``, warning once on fallback."""
    module = cython_module()
    if module is not None:
        return "cython", module
    if not _state["warned"]:
        _state["warned"] = True
        warnings.warn(MISSING_MESSAGE.format(error=_state["error"]), RuntimeWarning, stacklevel=3)
    return "numpy", None
