"""A plot font that has Hangul. Matplotlib's default, DejaVu Sans, has none: Korean labels come
out as empty boxes with a missing-glyph warning each. Plots draw with DejaVu Sans first (English
plots look as they always did) and a Korean font as the fallback for the glyphs it lacks.
"""

from __future__ import annotations

import contextlib
import functools
import importlib.util
from pathlib import Path
from typing import Iterator

# Installed fonts worth trying first, in order: Linux (Noto CJK, Nanum), Windows, macOS.
KOREAN_FAMILIES = ("Noto Sans CJK KR", "Noto Sans KR", "Source Han Sans KR", "NanumGothic", "Nanum Gothic",
                   "Malgun Gothic", "Apple SD Gothic Neo", "AppleGothic")


def _bundled() -> Path | None:
    """NanumGothic from the koreanize-matplotlib package (a dependency), found without importing
    it: importing it would change the user's global rcParams."""
    spec = importlib.util.find_spec("koreanize_matplotlib")
    if spec is None or spec.origin is None:
        return None
    path = Path(spec.origin).parent / "fonts" / "NanumGothic.ttf"
    return path if path.is_file() else None


@functools.lru_cache(maxsize=1)
def korean_font() -> str | None:
    """The family name of a font with Hangul: an installed one, else the bundled NanumGothic."""
    from matplotlib import font_manager

    installed = {f.name for f in font_manager.fontManager.ttflist}
    for family in KOREAN_FAMILIES:
        if family in installed:
            return family
    if (path := _bundled()) is not None:
        font_manager.fontManager.addfont(str(path))
        return font_manager.FontProperties(fname=str(path)).get_name()
    return None


def describe() -> tuple[bool, str]:
    """For ``doctor``: is there a plot font for Korean, and which."""
    family = korean_font()
    return (family is not None,
            f"{family}" if family else "none: Korean plot labels show as boxes (pip install koreanize-matplotlib)")


@contextlib.contextmanager
def plot_fonts() -> Iterator[None]:
    """Artists made inside keep a font list with a Korean fallback, also when drawn later."""
    import matplotlib

    families = ["DejaVu Sans"] + ([korean_font()] if korean_font() else [])
    interactive = matplotlib.is_interactive()
    try:
        with matplotlib.rc_context({"font.family": families}):
            try:
                yield
            finally:
                # the first figure of a kernel loads its backend here, which turns interactive mode
                # on for the notebook; rc_context would undo that on exit (later plots: nothing shown)
                interactive = matplotlib.is_interactive()
    finally:
        matplotlib.interactive(interactive)
