"""Tests of intro2ai.vis_utils: image grids and the bundled Korean font."""

from __future__ import annotations

import numpy as np
import pytest

from intro2ai.vis_utils import vis_grid, visualize_grid


def test_visualize_grid_layout_and_scaling():
    rng = np.random.default_rng(0)
    filters = rng.standard_normal((5, 3, 4, 2))  # (F, C, HH, WW) as in model.params['W1']
    grid = visualize_grid(filters.transpose(0, 2, 3, 1))
    # 5 images -> 3x3 grid of 4x2 cells with 1-pixel gaps
    assert grid.shape == (3 * 4 + 2, 3 * 2 + 2, 3)
    first = grid[0:4, 0:2]
    assert first.min() == 0.0 and first.max() == pytest.approx(255.0)
    # the cell right of the first one holds image 1; the gap column between them is blank
    assert np.all(grid[0:4, 2] == 0)
    img1 = filters[1].transpose(1, 2, 0)
    expected = 255.0 * (img1 - img1.min()) / (img1.max() - img1.min())
    np.testing.assert_allclose(grid[0:4, 3:5], expected)
    assert np.all(grid[10:14, 6:8] == 0), "unused cells stay blank"


def test_visualize_grid_grayscale_and_constant_images():
    grid = visualize_grid(np.ones((4, 3, 3)), padding=0)
    assert grid.shape == (6, 6, 1)
    assert np.all(grid == 0), "a constant image has no range; it is drawn as 0, not NaN"


def test_visualize_grid_rejects_channels_first_batch():
    with pytest.raises(ValueError, match=r"visualize_grid: Xs must be .*\(N, H, W, C\).*\(2, 3\)"):
        visualize_grid(np.zeros((2, 3)))


def test_vis_grid_range():
    grid = vis_grid(np.random.default_rng(1).standard_normal((3, 2, 2, 3)))
    assert grid.shape == (2 * 2 + 3, 2 * 2 + 3, 3)
    assert grid.min() == 0.0 and grid.max() == 1.0


def test_show_before_after_draws_pairs():
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    from intro2ai.vis_utils import show_before_after

    rng = np.random.default_rng(1)
    before = rng.random((12, 1, 5, 4))
    after = before[:, :, ::-1]
    fig = show_before_after(before, after, ("original", "flipped"), n=10)
    axes = np.array(fig.axes).reshape(2, 10)
    np.testing.assert_array_equal(axes[0, 3].images[0].get_array(), before[3, 0])
    np.testing.assert_array_equal(axes[1, 9].images[0].get_array(), after[9, 0])
    assert (
        axes[0, 0].get_title(loc="left") == "original"
        and axes[1, 0].get_title(loc="left") == "flipped"
    )
    plt.close(fig)
    with pytest.raises(ValueError, match="one shape"):
        show_before_after(before, after[:3])


# --------------------------------------------------------------------------- Korean font

REPO = __import__("pathlib").Path(__file__).resolve().parent.parent
FONT_DIR = REPO / "intro2ai" / "fonts"
HANGUL = "한글 손실 정확도 반복 횟수"


def test_bundled_korean_font_has_hangul_glyphs_and_its_licence():
    from matplotlib.ft2font import FT2Font

    from intro2ai.vis_utils import korean_font_path

    assert __import__("pathlib").Path(korean_font_path()) == FONT_DIR / "NanumGothic.ttf"
    font = FT2Font(korean_font_path())
    assert font.family_name == "NanumGothic"
    for ch in HANGUL.replace(" ", "") + "가힣":
        assert font.get_char_index(ord(ch)) != 0, f"no glyph for {ch!r}"
    licence = (FONT_DIR / "OFL.txt").read_text(encoding="utf-8")
    assert "SIL Open Font License, Version 1.1" in licence and "NAVER Corporation" in licence
    assert "PERMISSION & CONDITIONS" in licence and "DISCLAIMER" in licence


def test_fonts_are_package_data():
    import fnmatch
    import tomllib

    data = tomllib.loads((REPO / "pyproject.toml").read_text())["tool"]["setuptools"][
        "package-data"
    ]
    patterns = data["intro2ai"]
    for name in ("NanumGothic.ttf", "OFL.txt"):
        assert any(fnmatch.fnmatch(f"fonts/{name}", p) for p in patterns), (name, patterns)


def test_importing_vis_utils_makes_matplotlib_draw_hangul_with_the_bundled_font():
    """In a fresh interpreter (no other rcParams): import the kit's plotting helpers, draw
    Korean text, and check the font matplotlib chose, that no glyph is missing (warnings are
    errors), and that different syllables give different pixels (missing glyphs are all the
    same box)."""
    import subprocess
    import sys

    code = f"""
import warnings
warnings.simplefilter('error')
import numpy as np
import matplotlib
matplotlib.use('Agg')
import matplotlib.pyplot as plt
from matplotlib import font_manager
import intro2ai.vis_utils as vu

fig, ax = plt.subplots(figsize=(3, 1), dpi=100)
ax.set_title({HANGUL!r})
ax.plot([-1, 1], [-2, 2])  # negative tick labels: the minus sign falls back to DejaVu Sans
ax.set_xlabel('반복 횟수 (iteration)')
fig.canvas.draw()
path = font_manager.findfont(ax.title.get_fontproperties())
assert path == vu.korean_font_path(), path

def pixels(ch):
    f = plt.figure(figsize=(0.6, 0.6), dpi=100)
    f.text(0.5, 0.5, ch, ha='center', va='center', fontsize=24)
    f.canvas.draw()
    img = np.asarray(f.canvas.buffer_rgba())[..., 0].copy()
    plt.close(f)
    return img

a, b, c = pixels('한'), pixels('국'), pixels('한')
assert (a < 128).sum() > 20, 'nothing drawn'
assert np.array_equal(a, c) and not np.array_equal(a, b), 'syllables drawn alike (boxes?)'
print('OK', path)
"""
    proc = subprocess.run(
        [sys.executable, "-c", code],
        capture_output=True,
        text=True,
        env={**__import__("os").environ, "MPLBACKEND": "Agg"},
    )
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert proc.stdout.startswith("OK") and "NanumGothic.ttf" in proc.stdout


def test_use_korean_font_is_idempotent_and_keeps_the_other_families():
    import matplotlib
    from matplotlib import font_manager

    from intro2ai.vis_utils import KOREAN_FONT_FAMILY, korean_font_path, use_korean_font

    with matplotlib.rc_context({"font.family": ["serif"]}):
        use_korean_font()
        use_korean_font()
        assert list(matplotlib.rcParams["font.family"]) == [KOREAN_FONT_FAMILY, "serif"]
    assert sum(f.fname == korean_font_path() for f in font_manager.fontManager.ttflist) == 1
