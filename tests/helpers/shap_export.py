"""shap for the export tests: imported once, quietly, and a way to render its plots to PNG files.

shap is a test dependency, so these tests never skip. Its import calls matplotlib colormap setters
(``set_bad``, ``set_over``, ``set_under``) that matplotlib 3.11 marks as pending deprecation; the
suite turns warnings into errors, so exactly that warning, raised from shap's colour module, is
ignored while shap is imported. Plots draw with the Agg backend (no display).
"""

from __future__ import annotations

import warnings
from pathlib import Path

import matplotlib

matplotlib.use("Agg")

import matplotlib.pyplot as plt  # noqa: E402  (after choosing the backend)

with warnings.catch_warnings():
    warnings.filterwarnings("ignore", category=PendingDeprecationWarning, module=r"shap\.plots\.colors")
    import shap  # noqa: E402

PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"

__all__ = ["shap", "save_png"]


def save_png(path: Path) -> bytes:
    """Save the current matplotlib figure to ``path``, close every figure, and return the file's bytes."""
    try:
        plt.savefig(path, format="png")
    finally:
        plt.close("all")
    content = path.read_bytes()
    assert content.startswith(PNG_SIGNATURE), f"{path} is not a PNG file"
    return content
