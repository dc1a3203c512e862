"""Sample submissions of HW5, built from the kit's reference by small documented changes.

Each sample is a recipe, not a copy: start from the reference (``base="reference"``) or the
untouched student edition (``base="release"``) of ``intro2ai/layers.py`` and
``intro2ai/classifiers/cnn.py``, then change the solution regions named in ``regions``:

* ``("sub", old, new, ...)``: text substitutions inside that region of the reference (each
  ``old`` must occur, so a changed reference makes the build fail loudly, not silently);
* ``("body", text)``: the region's body replaced by ``text`` (indented automatically);
* ``"stub"``: the student-edition stub.

``tampered`` lists the tasks whose notebook tests pass in the kernel while the trusted grader
fails them (the pipeline flags them as possible tampering). ``append`` adds module-level code at the end of a file (it runs at import time), and
``extra`` adds other files to the submission folder (they must be ignored by the grader).
``{KIT}``, ``{SUBMISSION}`` and ``{TMP_MARKER}`` in the texts are replaced when building.

``expected_scores.toml`` (beside this file) lists, per sample and task id, the exact points
the trusted grader must give with the seed written there; ``tests/test_grader_samples.py``
asserts them. ``python -m autograder samples DEST`` writes every sample into ``DEST/<name>/``.
"""

from __future__ import annotations

import textwrap
import tomllib
from pathlib import Path

KIT_ROOT = Path(__file__).resolve().parent.parent.parent
EXPECTED_PATH = Path(__file__).resolve().parent / "expected_scores.toml"
FILES = ("intro2ai/layers.py", "intro2ai/classifiers/cnn.py")
RELEASE_NOTEBOOK = next(
    (
        p
        for p in (
            KIT_ROOT / "assignments" / "release" / "hw5" / "hw5.ipynb",
            KIT_ROOT / "assignments" / "source" / "hw5" / "hw5.ipynb",
        )
        if p.exists()
    ),
    None,
)
#: Created by adv_write_outside if the sandbox ever let it write there (tests check).
ESCAPE_MARKER = "ESCAPED_FROM_SANDBOX"

CONV_F, CONV_B = "conv_forward_naive", "conv_backward_naive"
POOL_F, POOL_B = "max_pool_forward_naive", "max_pool_backward_naive"
NET_INIT, NET_LOSS = "ThreeLayerConvNet.__init__", "ThreeLayerConvNet.loss"

SAMPLES: dict[str, dict] = {
    # --- baselines --------------------------------------------------------------------------
    "reference": {"base": "reference", "doc": "the kit's reference solutions"},
    "release": {"base": "release", "doc": "the untouched student edition (every task a stub)"},
    # --- common mistakes (one each; the other tasks keep the reference) ----------------------
    "conv_no_pad": {
        "doc": "conv forward ignores pad: loops over its own pad-free output size",
        "regions": {
            CONV_F: (
                "body",
                """
            N, C, H, W = x.shape
            F, _, HH, WW = w.shape
            H0, W0 = 1 + (H - HH) // stride, 1 + (W - WW) // stride
            out = np.zeros((N, F, H0, W0))
            for n in range(N):
                for i in range(H0):
                    for j in range(W0):
                        window = x[n, :, i * stride:i * stride + HH, j * stride:j * stride + WW]
                        out[n, :, i, j] = np.sum(window * w, axis=(1, 2, 3)) + b
        """,
            )
        },
    },
    "conv_flipped": {
        "doc": "conv forward flips the kernel (true convolution instead of cross-correlation)",
        "regions": {CONV_F: ("sub", "window * w", "window * w[:, :, ::-1, ::-1]")},
    },
    "conv_no_bias": {
        "doc": "conv forward leaves the bias out",
        "regions": {CONV_F: ("sub", "axis=(1, 2, 3)) + b", "axis=(1, 2, 3))")},
    },
    "conv_no_stride": {
        "doc": "conv forward ignores the stride (windows start at i, j)",
        "regions": {
            CONV_F: ("sub", "top = i * stride", "top = i", "left = j * stride", "left = j")
        },
    },
    "conv_transposed": {
        "doc": "conv forward uses the filter with its HH and WW axes swapped",
        "regions": {CONV_F: ("sub", "window * w", "window * w.transpose(0, 1, 3, 2)")},
    },
    "conv_float32": {
        "doc": "conv forward returns float32 (wrong dtype)",
        "regions": {CONV_F: ("sub", "dtype=np.result_type(x, w, b)", "dtype=np.float32")},
    },
    "convb_flipped": {
        "doc": "conv backward sends dx through the flipped kernel",
        "regions": {
            CONV_B: ("sub", "np.sum(g * w, axis=0)", "np.sum(g * w[:, :, ::-1, ::-1], axis=0)")
        },
    },
    "convb_overwrite": {
        "doc": "conv backward overwrites (=) dx of overlapping windows instead of adding (+=)",
        "regions": {
            CONV_B: (
                "sub",
                "dx_pad[n, :, top:top + HH, left:left + WW] +=",
                "dx_pad[n, :, top:top + HH, left:left + WW] =",
            )
        },
    },
    "convb_no_crop": {
        "doc": "conv backward returns dx with the padding still on",
        "regions": {CONV_B: ("sub", "dx = dx_pad[:, :, pad:pad + H, pad:pad + W]", "dx = dx_pad")},
    },
    "convb_db_batch_only": {
        "doc": "conv backward sums db over the batch axis only",
        "regions": {CONV_B: ("sub", "db = dout.sum(axis=(0, 2, 3))", "db = dout.sum(axis=0)")},
    },
    "pool_avg": {
        "doc": "max-pool forward takes the mean instead of the max",
        "regions": {POOL_F: ("sub", "np.max(window, axis=(1, 2))", "np.mean(window, axis=(1, 2))")},
    },
    "pool_no_stride": {
        "doc": "max-pool forward ignores the stride",
        "regions": {
            POOL_F: ("sub", "top = i * stride", "top = i", "left = j * stride", "left = j")
        },
    },
    "pool_hw_swapped": {
        "doc": "max-pool forward swaps pool_height and pool_width",
        "regions": {
            POOL_F: (
                "sub",
                "top:top + pool_height, left:left + pool_width",
                "top:top + pool_width, left:left + pool_height",
            )
        },
    },
    "pool_nan": {
        "doc": "max-pool forward divides by zero in the first column (inf/NaN outputs)",
        "regions": {
            POOL_F: (
                "sub",
                "np.max(window, axis=(1, 2))",
                "np.max(window, axis=(1, 2)) / float(j > 0)",
            )
        },
        "append": {"intro2ai/layers.py": "np.seterr(all='ignore')\n"},
    },
    "poolb_all_max": {
        "doc": "max-pool backward sends the gradient to every maximum of a window (ties)",
        "regions": {
            POOL_B: (
                "body",
                """
            N, C, H, W = x.shape
            dx = np.zeros(x.shape, dtype=np.result_type(x, dout))
            for n in range(N):
                for i in range(H_out):
                    for j in range(W_out):
                        t, l = i * stride, j * stride
                        window = x[n, :, t:t + pool_height, l:l + pool_width]
                        mask = window == window.max(axis=(1, 2), keepdims=True)
                        dx[n, :, t:t + pool_height, l:l + pool_width] += (
                            mask * dout[n, :, i, j][:, None, None])
        """,
            )
        },
    },
    "poolb_overwrite": {
        "doc": "max-pool backward overwrites (=) instead of adding (+=) for overlapping windows",
        "regions": {
            POOL_B: (
                "sub",
                "dx[n, channels, top + r, left + s] +=",
                "dx[n, channels, top + r, left + s] =",
            )
        },
    },
    "poolb_mutates_cache": {
        "doc": "max-pool backward marks used maxima in x (the cache) in place",
        "regions": {
            POOL_B: (
                "sub",
                "dx[n, channels, top + r, left + s] += dout[n, :, i, j]",
                "dx[n, channels, top + r, left + s] += dout[n, :, i, j]\n"
                "x[n, channels, top + r, left + s] = -1e9",
            )
        },
    },
    "syntax_error": {
        "doc": "a syntax error in conv forward: layers.py cannot be imported (the network task is "
        "graded with the provided layers.py)",
        "regions": {
            CONV_F: (
                "body",
                """
            out = np.zeros((N, F, H_out, W_out)
        """,
            )
        },
    },
    "net_no_reg": {
        "doc": "ThreeLayerConvNet leaves the L2 regularisation out of loss and gradients",
        "regions": {
            NET_LOSS: (
                "sub",
                "reg_loss = 0.5 * self.reg * (",
                "reg_loss = 0.0 * (",
                "grads[name] += self.reg * self.params[name]",
                "grads[name] += 0.0 * self.params[name]",
            )
        },
    },
    "net_reg_no_half": {
        "doc": "ThreeLayerConvNet uses reg * sum(W**2) (no 0.5) and 2 * reg * W",
        "regions": {
            NET_LOSS: (
                "sub",
                "reg_loss = 0.5 * self.reg * (",
                "reg_loss = self.reg * (",
                "grads[name] += self.reg * self.params[name]",
                "grads[name] += 2 * self.reg * self.params[name]",
            )
        },
    },
    "net_no_weight_scale": {
        "doc": "ThreeLayerConvNet.__init__ forgets weight_scale (weights ~ N(0, 1))",
        "regions": {NET_INIT: ("sub", "weight_scale * np.random.randn", "np.random.randn")},
    },
    # --- adversarial ---------------------------------------------------------------------------
    "adv_patch_allclose": {
        "doc": "patches np.allclose / numpy.testing at import, returns zeros from conv forward",
        "base": "release",
        "regions": {
            CONV_F: (
                "body",
                """
            out = np.zeros((x.shape[0], w.shape[0], H_out, W_out))
        """,
            )
        },
        "append": {
            "intro2ai/layers.py": """
            np.allclose = lambda *a, **k: True
            np.testing.assert_allclose = lambda *a, **k: None
            np.testing.assert_array_almost_equal = lambda *a, **k: None
        """
        },
    },
    "adv_exec_instructor": {
        "doc": "exec()s / imports the instructor's layers.py by absolute path; reads the seed",
        "regions": {
            CONV_F: (
                "body",
                """
                _ns = {"__name__": "kit_layers"}
                exec(open("{KIT}/intro2ai/layers.py").read(), _ns)
                out = _ns["conv_forward_naive"](x, w, b, conv_param)[0]
            """,
            ),
            POOL_F: (
                "body",
                """
                import importlib.util
                _spec = importlib.util.spec_from_file_location("kit_layers", "{KIT}/intro2ai/layers.py")
                _mod = importlib.util.module_from_spec(_spec)
                _spec.loader.exec_module(_mod)
                out = _mod.max_pool_forward_naive(x, pool_param)[0]
            """,
            ),
        },
        "append": {
            "intro2ai/layers.py": """
            try:
                SECRET = open("{KIT}/autograder/.grader_seed").read()
            except OSError:
                SECRET = None
        """
        },
        # The notebook kernel can read the kit, so the notebook's tests pass there: flagged.
        "tampered": ["hw5_conv_forward", "hw5_max_pool_forward"],
    },
    "adv_numpy_py": {
        "doc": "reference code plus a numpy.py / sitecustomize.py that would break any import",
        "extra": {
            "numpy.py": "raise ImportError('fake numpy from the submission was imported')\n",
            "intro2ai/numpy.py": "raise ImportError('fake numpy (package) imported')\n",
            "sitecustomize.py": "raise SystemExit('sitecustomize from submission ran')\n",
        },
    },
    "adv_keyboard_interrupt": {
        "doc": "conv backward loops forever, ignoring SIGINT/SIGTERM and KeyboardInterrupt",
        "regions": {
            CONV_B: (
                "body",
                """
            import signal, time
            signal.signal(signal.SIGINT, signal.SIG_IGN)
            signal.signal(signal.SIGTERM, signal.SIG_IGN)
            while True:
                try:
                    time.sleep(0.05)
                except KeyboardInterrupt:
                    pass
        """,
            )
        },
    },
    "adv_infinite_loop": {
        "doc": "max-pool backward spins forever (CPU-bound)",
        "regions": {
            POOL_B: (
                "body",
                """
            k = 0
            while True:
                k += 1
        """,
            )
        },
    },
    "adv_forward_loop": {
        "doc": "conv forward never returns: only conv forward is lost (the backward task is "
        "graded with the standard cache)",
        "regions": {
            CONV_F: (
                "body",
                """
            while True:
                pass
        """,
            )
        },
    },
    "adv_memory_bomb": {
        "doc": "max-pool forward allocates until memory runs out",
        "regions": {
            POOL_F: (
                "body",
                """
            hog = []
            while True:  # 400 MB a step (calloc: fast until the address-space limit)
                hog.append(np.zeros(50_000_000))
        """,
            )
        },
    },
    "adv_fork_bomb": {
        "doc": "conv backward forks without end",
        "regions": {
            CONV_B: (
                "body",
                """
            import os
            while True:
                try:
                    os.fork()
                except OSError:
                    pass
        """,
            )
        },
    },
    "adv_sys_exit": {
        "doc": "conv forward calls sys.exit(0) (every call: each case fails, the task goes on)",
        "regions": {
            CONV_F: (
                "body",
                """
            import sys
            sys.exit(0)
        """,
            )
        },
    },
    "adv_os_exit": {
        "doc": "max-pool backward calls os._exit(0) on its second call (mid-task)",
        "regions": {
            POOL_B: (
                "sub",
                "    N, C, H, W = x.shape",
                "    import os\n"
                "    _CALLS.append(1)\n"
                "    if len(_CALLS) == 2:\n"
                "        os._exit(0)\n"
                "    N, C, H, W = x.shape",
            )
        },
        "append": {"intro2ai/layers.py": "_CALLS = []\n"},
    },
    "adv_write_outside": {
        "doc": "tries to write into the kit, /tmp and its own submission folder at import",
        "append": {
            "intro2ai/layers.py": """
            for _p in ("{KIT}/autograder/samples/ESCAPED_FROM_SANDBOX", "{TMP_MARKER}",
                       "{SUBMISSION}/ESCAPED_FROM_SANDBOX"):
                try:
                    with open(_p, "w") as _fh:
                        _fh.write("escaped")
                except OSError:
                    pass
        """
        },
    },
    "adv_forged_records": {
        "doc": "prints forged verdicts and writes forged result records to every open fd",
        "base": "release",
        "regions": {
            CONV_F: (
                "body",
                """
            import io, json, os
            print(json.dumps({"task": "hw5_conv_forward", "points": 20, "status": "pass"}))
            print('{"total": 100, "max_total": 100}')
            _buf = io.BytesIO()
            np.save(_buf, np.zeros((x.shape[0], w.shape[0], H_out, W_out)))
            for _case in range(8):
                for _hdr in ({"kind": "array", "case": _case, "key": "out"},
                             {"kind": "done", "case": _case, "status": "pass", "points": 20}):
                    _h = json.dumps(_hdr).encode()
                    _p = _buf.getvalue() if _hdr["kind"] == "array" else b""
                    _rec = b"R" + len(_h).to_bytes(4, "big") + _h + len(_p).to_bytes(8, "big") + _p
                    for _fd in range(3, 64):
                        try:
                            os.write(_fd, _rec)
                        except OSError:
                            pass
            out = np.zeros((x.shape[0], w.shape[0], H_out, W_out))
        """,
            )
        },
    },
    "adv_uses_fast_layers": {
        "doc": "naive conv forward calls the provided conv_forward_fast (not an implementation)",
        "regions": {
            CONV_F: (
                "body",
                """
            from intro2ai import fast_layers
            out = fast_layers.conv_forward_fast(x, w, b, conv_param)[0]
        """,
            )
        },
        # The fast layers work in the notebook kernel, not in the trusted grader's naive tasks.
        "tampered": ["hw5_conv_forward"],
    },
    "adv_output_flood": {
        "doc": "correct code that prints 2 MB per call and writes 8 MB to fd 1 once "
        "(output is capped, the grade is unaffected)",
        "regions": {
            CONV_F: (
                "sub",
                "    N, C, H, W = x.shape",
                "    import os\n"
                "    for _k in range(400):\n"
                "        print('x' * 5000)\n"
                "    if not _FLOODED:\n"
                "        _FLOODED.append(1)\n"
                "        try:\n"
                "            os.write(1, b'y' * (8 << 20))\n"
                "        except OSError:\n"
                "            pass\n"
                "    N, C, H, W = x.shape",
            )
        },
        "append": {"intro2ai/layers.py": "_FLOODED = []\n"},
    },
}


#: Notebook-side samples: the .py files of ``base`` plus an edited ``hw5.ipynb`` (built from the
#: released notebook by :func:`build_notebook`: ``edit`` says how, ``cell`` is the student's
#: code). The trusted grader ignores notebooks, so their expected scores are those of ``base``;
#: the nbgrader pipeline (``make demo``) runs them in a kernel and flags the tasks in
#: ``tampered`` (none: nbgrader restores the locked test cells, and neither the kit nor a
#: swallowed error earns a point in the nbgrader step's sandbox).
NOTEBOOK_SAMPLES: dict[str, dict] = {
    "nb_edited_tests": {
        "doc": "stubbed .py files; the student replaced every graded (locked) test cell of the "
        "notebook by a cell that prints a success message (nbgrader restores them)",
        "base": "release",
        "edit": "graded_tests",
        "cell": "print('통과: 모든 테스트를 통과했습니다')\n",
        "tampered": [],
    },
    "nb_exec_instructor": {
        "doc": "stubbed .py files; a notebook cell loads the instructor's layers.py by absolute "
        "path and rebinds the layer names; the kit is not visible in the nbgrader step's "
        "sandbox, so the cell fails and so do the notebook's tests (nothing to flag)",
        "base": "release",
        "edit": "insert_after_imports",
        "cell": (
            "import importlib.util as _u\n"
            "_s = _u.spec_from_file_location('kit_layers', '{KIT}/intro2ai/layers.py')\n"
            "_m = _u.module_from_spec(_s)\n"
            "_s.loader.exec_module(_m)\n"
            "conv_forward_naive, conv_backward_naive = _m.conv_forward_naive, _m.conv_backward_naive\n"
            "max_pool_forward_naive = _m.max_pool_forward_naive\n"
            "max_pool_backward_naive = _m.max_pool_backward_naive\n"
        ),
        "tampered": [],
    },
    "nb_custom_exc": {
        "doc": "stubbed .py files; a notebook cell installs an IPython custom exception handler "
        "that swallows every error raised by the test cells (nbgrader still records the "
        "failing cells: no points, nothing to flag)",
        "base": "release",
        "edit": "insert_after_imports",
        "cell": (
            "get_ipython().set_custom_exc((BaseException,),\n"
            "    lambda shell, etype, value, tb, tb_offset=None: None)\n"
        ),
        "tampered": [],
    },
}


def build_notebook(release_nb: str | Path, name: str) -> str:
    """The edited notebook (JSON text) of notebook sample ``name``."""
    import nbformat
    from nbformat.v4 import new_code_cell

    recipe = NOTEBOOK_SAMPLES[name]
    nb = nbformat.read(str(release_nb), as_version=4)
    if recipe["edit"] == "graded_tests":
        edited = 0
        for cell in nb.cells:
            meta = cell.get("metadata", {}).get("nbgrader", {})
            if cell.cell_type == "code" and meta.get("grade") and not meta.get("solution"):
                cell.source = recipe["cell"]
                edited += 1
        if not edited:
            raise ValueError(f"{release_nb}: no graded test cell to edit")
    else:
        at = next(
            (i for i, c in enumerate(nb.cells) if c.cell_type == "code" and "import" in c.source), 0
        )
        nb.cells.insert(at + 1, new_code_cell(recipe["cell"]))
    return nbformat.writes(nb)


def _regions(text: str, path: str):
    from autograder import release

    return release.find_regions(text, path)


def _apply(region, lines: list[str], spec, path: str) -> list[str]:
    """The replacement lines of one region (marker lines dropped)."""
    from autograder import release

    body = lines[region.begin + 1 : region.end]
    if spec == "stub":
        return release.stub_lines(region, path)
    if spec == "reference":
        return body
    kind = spec[0]
    if kind == "body":
        text = textwrap.dedent(spec[1]).strip("\n")
        return [region.indent + ln if ln else ln for ln in text.split("\n")]
    if kind == "sub":
        text = "\n".join(body)
        pairs = spec[1:]
        for old, new in zip(pairs[::2], pairs[1::2]):
            if old not in text:
                raise ValueError(
                    f"sample recipe: {old!r} not found in {region.qualname} of "
                    f"{path}; update autograder/samples/__init__.py"
                )
            if "\n" in new:  # keep the indentation of the line being replaced
                line_start = text.rfind("\n", 0, text.index(old)) + 1
                ind = text[line_start : text.index(old)]
                ind = ind if not ind.strip() else region.indent
                new = new.replace("\n", "\n" + ind)
            text = text.replace(old, new)
        return text.split("\n")
    raise ValueError(f"unknown region recipe {spec!r}")


def build_file(path: str, recipe: dict, kit_root: Path = KIT_ROOT) -> str:
    """One submission file of a sample (``path`` relative to the kit root)."""
    text = (kit_root / path).read_text(encoding="utf-8")
    lines = text.split("\n")
    regions = _regions(text, path)
    default = "stub" if recipe.get("base", "reference") == "release" else "reference"
    specs = recipe.get("regions", {})
    for region in reversed(regions):
        spec = specs.get(region.qualname, default)
        lines[region.begin : region.end + 1] = _apply(region, lines, spec, path)
    out = "\n".join(lines)
    extra = recipe.get("append", {}).get(path)
    if extra:
        out = out.rstrip("\n") + "\n\n\n" + textwrap.dedent(extra).strip("\n") + "\n"
    return out


def build_samples(
    dest: str | Path,
    names=None,
    kit_root: Path = KIT_ROOT,
    tmp_marker: str = "/tmp/intro2ai_ESCAPED_FROM_SANDBOX",
    release_notebook: str | Path | None = None,
) -> list[str]:
    """Write the samples into ``dest/<name>/``; return their names.

    ``names`` may include :data:`NOTEBOOK_SAMPLES` (default: only :data:`SAMPLES`); their
    notebook is built from ``release_notebook`` (default: the released hw5.ipynb if it exists,
    else the source notebook: the grader ignores notebooks either way).
    """
    dest = Path(dest)
    built = []
    for name in names or SAMPLES:
        recipe = SAMPLES.get(name) or NOTEBOOK_SAMPLES[name]
        folder = dest / name
        subs = {
            "{KIT}": str(kit_root.resolve()),
            "{SUBMISSION}": str(folder.resolve()),
            "{TMP_MARKER}": tmp_marker,
        }
        files = {p: build_file(p, recipe, kit_root) for p in FILES}
        files.update({p: textwrap.dedent(t) for p, t in recipe.get("extra", {}).items()})
        if name in NOTEBOOK_SAMPLES:
            files["hw5.ipynb"] = build_notebook(release_notebook or RELEASE_NOTEBOOK, name)
        for rel, text in files.items():
            for k, v in subs.items():
                text = text.replace(k, v)
            target = folder / rel
            target.parent.mkdir(parents=True, exist_ok=True)
            target.write_text(text, encoding="utf-8")
        built.append(name)
    return built


def expected_scores() -> dict:
    """``{"seed": ..., "samples": {name: {task_id: points}}}`` from expected_scores.toml."""
    with open(EXPECTED_PATH, "rb") as fh:
        return tomllib.load(fh)
