"""The repository's paths, and the images the tests read.

Tests read only what the repository holds: the CC0 photo and the two public-domain
paintings in examples/ (see examples/README.md), or images they draw themselves.
"""

from __future__ import annotations

from pathlib import Path

from PIL import Image

ROOT = Path(__file__).resolve().parents[2]
EXAMPLES = ROOT / "examples"
CONTENT = EXAMPLES / "chelsea.jpg"  # 451×300
STYLE = EXAMPLES / "starry_night.jpg"
OTHER_STYLE = EXAMPLES / "shipwreck.jpg"


def fitted(long_side: int) -> tuple[int, int]:
    """The output size for the content image at ``size=long_side`` (aspect ratio kept)."""
    with Image.open(CONTENT) as img:
        w, h = img.size
    scale = long_side / max(w, h)
    return round(w * scale), round(h * scale)
