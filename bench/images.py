"""The images the benches read, and the folders they write to.

Read: ``examples/`` (in the repository) and the shared images (photos and public-domain
paintings that are not part of it): ``$NST_TEST_IMAGES`` if set, else ``shared/images``
beside the checkout or above it. The benches skip what is missing.

Written, by default:

- records (JSON) to ``bench/records/`` (:data:`RECORDS`);
- pictures the docs show (contact sheets, side-by-sides) to ``docs/images/`` (:data:`PICTURES`);
- each run's own images, which no doc shows, to ``bench/scratch/`` (:data:`SCRATCH`, not committed).

Each script takes ``--records DIR`` and ``--pictures DIR`` (:func:`output_options`), so a
trial run can write elsewhere and leave the committed figures alone.
"""

from __future__ import annotations

import argparse
import os
from pathlib import Path

from PIL import Image

ROOT = Path(__file__).resolve().parents[1]
EXAMPLES = ROOT / "examples"


def _shared() -> Path:
    if os.environ.get("NST_TEST_IMAGES"):
        return Path(os.environ["NST_TEST_IMAGES"])
    found = (p / "shared" / "images" for p in ROOT.parents if (p / "shared" / "images").is_dir())
    return next(found, ROOT.parent / "shared" / "images")


SHARED = _shared()
RECORDS = ROOT / "bench" / "records"
PICTURES = ROOT / "docs" / "images"
SCRATCH = ROOT / "bench" / "scratch"

FACE_BOX = (120, 0, 330, 230)  # a close crop of the astronaut's face in examples/astronaut.jpg


def shared(name: str) -> Path:
    """A shared image by its stem: ``shared("tubingen")``."""
    return SHARED / f"{name}.jpg"


def open_image(source: Path | str) -> Image.Image:
    """An RGB image: a path, ``"astronaut"`` (examples/astronaut.jpg) or ``"face"`` (its face, cropped)."""
    if source in ("astronaut", "face"):
        img = Image.open(EXAMPLES / "astronaut.jpg").convert("RGB")
        return img.crop(FACE_BOX) if source == "face" else img
    return Image.open(source).convert("RGB")


def missing(*sources: Path | str) -> list[Path]:
    """The paths among ``sources`` that are not here (the names "astronaut" and "face" always are)."""
    return [Path(s) for s in sources if isinstance(s, Path) and not s.is_file()]


def resize_to_long_side(img: Image.Image, size: int) -> Image.Image:
    """nst's own resize (``nst.images.resize_to_long_side``): the longer side to ``size`` px."""
    from nst.images import resize_to_long_side

    return resize_to_long_side(img, size)


def output_options(parser: argparse.ArgumentParser, records: bool = True, pictures: bool = True) -> None:
    """``--records DIR`` and ``--pictures DIR``, defaulting to :data:`RECORDS` and :data:`PICTURES`."""
    if records:
        parser.add_argument(
            "--records",
            type=Path,
            default=RECORDS,
            metavar="DIR",
            help="where the JSON records go (default: bench/records)",
        )
    if pictures:
        parser.add_argument(
            "--pictures",
            type=Path,
            default=PICTURES,
            metavar="DIR",
            help="where the pictures the docs show go (default: docs/images)",
        )


def in_folder(folder: Path, name: str) -> Path:
    """``folder / name``, the folder made first."""
    folder.mkdir(parents=True, exist_ok=True)
    return folder / name
