"""Visualisation helpers: tile a stack of images (e.g. first-layer filters) into one grid.

Importing this module registers the bundled Korean font (NanumGothic, SIL Open Font License,
see ``intro2ai/fonts/OFL.txt``) with matplotlib and puts it first in ``font.family``, so
Korean titles and labels render on machines without a Korean font (matplotlib's default
DejaVu Sans has no Hangul and draws boxes).
"""

from __future__ import annotations

import math
from importlib.resources import files

import numpy as np

__all__ = [
    "visualize_grid",
    "vis_grid",
    "vis_nn",
    "show_before_after",
    "use_korean_font",
    "KOREAN_FONT_FAMILY",
    "korean_font_path",
]

#: Family name of the bundled font, as matplotlib's font manager knows it.
KOREAN_FONT_FAMILY = "NanumGothic"


def korean_font_path() -> str:
    """Path of the bundled NanumGothic TrueType file (package data of ``intro2ai``)."""
    return str(files("intro2ai") / "fonts" / "NanumGothic.ttf")


def use_korean_font() -> str:
    """Register the bundled Korean font with matplotlib and put it first in ``font.family``.

    The families set before stay after it (``sans-serif``: DejaVu Sans by default), and
    matplotlib (>= 3.6) falls back to them glyph by glyph, so the minus sign (U+2212) and other
    symbols NanumGothic lacks still render. Safe to call again; returns the family name.
    """
    import matplotlib
    from matplotlib import font_manager

    path = korean_font_path()
    if not any(f.fname == path for f in font_manager.fontManager.ttflist):
        font_manager.fontManager.addfont(path)
    family = matplotlib.rcParams["font.family"]
    family = [family] if isinstance(family, str) else list(family)
    matplotlib.rcParams["font.family"] = [
        KOREAN_FONT_FAMILY,
        *[f for f in family if f != KOREAN_FONT_FAMILY],
    ]
    return KOREAN_FONT_FAMILY


use_korean_font()


def visualize_grid(Xs: np.ndarray, ubound: float = 255.0, padding: int = 1) -> np.ndarray:
    """Tile ``N`` images into a square grid, each rescaled to ``[0, ubound]``.

    Parameters
    ----------
    Xs : ndarray of shape (N, H, W, C) or (N, H, W)
        The images, channels last (filters ``W1`` of shape (F, C, HH, WW) become
        ``W1.transpose(0, 2, 3, 1)``).
    ubound : float, default 255.0
        Each image is min-max scaled to ``[0, ubound]`` on its own (a constant image becomes 0).
    padding : int, default 1
        Blank pixels between neighbouring images.

    Returns
    -------
    grid : ndarray of shape (G * (H + padding) - padding, G * (W + padding) - padding, C)
        ``G = ceil(sqrt(N))``; unused cells stay 0. Float; use ``grid.astype('uint8')`` to show it.
    """
    if not isinstance(Xs, np.ndarray) or Xs.ndim not in (3, 4):
        got = f"shape {Xs.shape}" if isinstance(Xs, np.ndarray) else type(Xs).__name__
        raise ValueError(
            f"visualize_grid: Xs must be an ndarray of shape (N, H, W, C) or (N, H, W), got "
            f"{got}; for conv filters pass W1.transpose(0, 2, 3, 1)"
        )
    if not isinstance(padding, (int, np.integer)) or padding < 0:
        raise ValueError(f"visualize_grid: padding must be an integer >= 0, got {padding!r}")
    if Xs.ndim == 3:
        Xs = Xs[..., None]
    N, H, W, C = Xs.shape
    grid_size = max(1, int(math.ceil(math.sqrt(N))))
    grid_height = H * grid_size + padding * (grid_size - 1)
    grid_width = W * grid_size + padding * (grid_size - 1)
    grid = np.zeros((grid_height, grid_width, C))
    for k in range(N):
        row, col = divmod(k, grid_size)
        top, left = row * (H + padding), col * (W + padding)
        img = Xs[k].astype(np.float64)
        low, high = np.min(img), np.max(img)
        scale = ubound / (high - low) if high > low else 0.0
        grid[top : top + H, left : left + W] = (img - low) * scale
    return grid


def vis_grid(Xs: np.ndarray) -> np.ndarray:
    """Tile images into a square grid with 1-pixel padding, scaled jointly to ``[0, 1]``.

    Parameters
    ----------
    Xs : ndarray of shape (N, H, W, C)

    Returns
    -------
    grid : ndarray of shape (G * (H + 1) + 1, G * (W + 1) + 1, C), ``G = ceil(sqrt(N))``
    """
    N, H, W, C = Xs.shape
    A = int(math.ceil(math.sqrt(N)))
    G = np.ones((A * H + A + 1, A * W + A + 1, C), dtype=np.float64) * np.min(Xs)
    for n in range(N):
        y, x = divmod(n, A)
        G[y * H + y + 1 : (y + 1) * H + y + 1, x * W + x + 1 : (x + 1) * W + x + 1, :] = Xs[n]
    maxg, ming = G.max(), G.min()
    return (G - ming) / (maxg - ming) if maxg > ming else np.zeros_like(G)


def vis_nn(rows: list[list[np.ndarray]]) -> np.ndarray:
    """Tile a 2-D list of equally shaped (H, W, C) images, scaled jointly to ``[0, 1]``.

    Parameters
    ----------
    rows : list of lists of ndarray of shape (H, W, C)

    Returns
    -------
    grid : ndarray of shape (R * (H + 1) + 1, K * (W + 1) + 1, C)
    """
    N, D = len(rows), len(rows[0])
    H, W, C = rows[0][0].shape
    Xs = rows[0][0]
    G = np.ones((N * H + N + 1, D * W + D + 1, C), dtype=np.float64) * np.min(Xs)
    for y in range(N):
        for x in range(D):
            G[y * H + y + 1 : (y + 1) * H + y + 1, x * W + x + 1 : (x + 1) * W + x + 1, :] = rows[
                y
            ][x]
    maxg, ming = G.max(), G.min()
    return (G - ming) / (maxg - ming) if maxg > ming else np.zeros_like(G)


def show_before_after(
    before: np.ndarray,
    after: np.ndarray,
    labels: tuple[str, str] = ("before", "after"),
    n: int = 10,
):
    """Two rows of grayscale images, ``before[j]`` above ``after[j]`` for the first ``n``.

    ``before`` and ``after`` have shape (N, 1, H, W) or (N, H, W) (e.g. digits before and after
    deskewing or augmentation). Returns the matplotlib figure (shown by the notebook).
    """
    import matplotlib.pyplot as plt

    before, after = np.asarray(before), np.asarray(after)
    if before.shape != after.shape or before.ndim not in (3, 4):
        raise ValueError(
            f"show_before_after: before and after must have one shape (N, 1, H, W) or "
            f"(N, H, W); got {before.shape} and {after.shape}"
        )
    n = min(n, before.shape[0])
    fig, axes = plt.subplots(2, n, figsize=(1.2 * n, 2.8), squeeze=False)
    for row, images in enumerate((before, after)):
        for j in range(n):
            axes[row, j].imshow(images[j].reshape(images.shape[-2:]), cmap="gray")
            axes[row, j].axis("off")
        axes[row, 0].set_title(labels[row], fontsize=8, loc="left")
    fig.tight_layout()
    return fig
