import os
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
# The shared test images sit beside the checkout; NST_TEST_IMAGES points elsewhere.
IMAGES = Path(os.environ.get("NST_TEST_IMAGES", ROOT.parent / "shared" / "images"))


@pytest.fixture(scope="session")
def images() -> Path:
    """The shared test images (development only; never copied into the project)."""
    if not (IMAGES / "tubingen.jpg").is_file():
        pytest.fail(f"test images not found in {IMAGES}; set NST_TEST_IMAGES to their folder")
    return IMAGES


@pytest.fixture(scope="session")
def content_path(images: Path) -> Path:
    return images / "tubingen.jpg"


@pytest.fixture(scope="session")
def style_path(images: Path) -> Path:
    return images / "starry_night.jpg"
