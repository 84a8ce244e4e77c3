"""Faces stay faces: finding them (``keep_faces``). What a run does with them, a map for a
term keeping their structure, is :mod:`nst.weightmaps` (and :class:`nst.losses.FaceStructureLoss`).

Faces are found by OpenCV's Haar cascades (``opencv-python-headless``: the trained
cascades are files inside its wheel, so nothing is downloaded at run time): frontal
faces, profile faces both ways round (three-quarter views), and the eyes inside each
face. Where the package is missing, :func:`detect_faces` raises
:class:`FaceDetectionUnavailable` and a run with ``keep_faces`` goes on without face
protection, with a warning saying so.
"""

from __future__ import annotations

import functools
import threading
import time
import warnings
from dataclasses import dataclass, field
from typing import Any

import numpy as np
from PIL import Image

from .errors import Error

__all__ = [
    "DETECT_SIDE",
    "Face",
    "FaceDetectionUnavailable",
    "describe",
    "detect_faces",
    "detector_available",
    "protected_faces",
]

# Faces are searched for on the image shrunk to this long side (never enlarged): enough
# for a face of 1/10 of the short side (MIN_FACE); see the README for its time.
DETECT_SIDE = 640
# The smallest face searched for, as a share of the (shrunk) image's short side.
MIN_FACE = 1 / 10


class FaceDetectionUnavailable(Error, RuntimeError):
    """The face detector (OpenCV) is not installed: faces cannot be found."""


@dataclass(frozen=True)
class Face:
    """A face found in an image, in that image's pixels.

    Attributes:
        box: ``(x, y, width, height)`` of the face.
        view: ``"frontal"``, or ``"profile"`` (a three-quarter or side view).
        eyes: the eyes' centres ``(x, y)`` where the eye detector found them (0–2);
            otherwise the weight map places them from the box's proportions.
    """

    box: tuple[int, int, int, int]
    view: str = "frontal"
    eyes: tuple[tuple[float, float], ...] = field(default=())

    def scaled(self, k: float) -> Face:
        """The same face in an image ``k`` times as large."""
        x, y, w, h = self.box
        return Face(
            (round(x * k), round(y * k), round(w * k), round(h * k)),
            self.view,
            tuple((ex * k, ey * k) for ex, ey in self.eyes),
        )

    def features(self) -> dict[str, tuple[float, float]]:
        """Where the eyes, nose and mouth are: the eyes found, else the box's proportions
        (a Haar face box has the eyes at ~40% of its height, the mouth at ~78%)."""
        x, y, w, h = self.box
        left, right = (x + 0.31 * w, y + 0.40 * h), (x + 0.69 * w, y + 0.40 * h)
        if len(self.eyes) == 2:
            left, right = sorted(self.eyes)
        elif len(self.eyes) == 1:
            ex, ey = self.eyes[0]
            # One eye: the other mirrored about the box's centre line, at the same height.
            other = (2 * (x + 0.5 * w) - ex, ey)
            left, right = sorted([(ex, ey), other])
        mx, my = (left[0] + right[0]) / 2, (left[1] + right[1]) / 2
        d = max(1.0, float(np.hypot(right[0] - left[0], right[1] - left[1])))
        # "Down" the face: perpendicular to the eye line (a tilted head tilts its mouth too).
        ux, uy = -(right[1] - left[1]) / d, (right[0] - left[0]) / d
        return {
            "left eye": left,
            "right eye": right,
            "nose": (mx + 0.55 * d * ux, my + 0.55 * d * uy),
            "mouth": (mx + 1.05 * d * ux, my + 1.05 * d * uy),
        }


@functools.cache
def _cascades() -> dict[str, Any]:
    try:
        import cv2
    except ImportError:
        raise FaceDetectionUnavailable(
            "keep_faces needs OpenCV to find faces (pip install opencv-python-headless); "
            "faces are not protected in this run"
        ) from None
    folder = cv2.data.haarcascades  # type: ignore[attr-defined]  # cv2.data is a subpackage its stubs omit
    out = {}
    for name, file in (
        ("frontal", "haarcascade_frontalface_alt2.xml"),
        ("profile", "haarcascade_profileface.xml"),
        ("eye", "haarcascade_eye.xml"),
    ):
        c = cv2.CascadeClassifier(folder + file)
        if c.empty():
            raise FaceDetectionUnavailable(f"OpenCV's {file} is missing from its install; faces are not protected")
        out[name] = c
    return out


def detector_available() -> bool:
    """Whether faces can be found here (OpenCV and its cascades are installed)."""
    try:
        _cascades()
    except FaceDetectionUnavailable:
        return False
    return True


def _overlap(a: tuple[int, int, int, int], b: tuple[int, int, int, int]) -> float:
    """The intersection of two boxes over the smaller one's area."""
    ix = max(0, min(a[0] + a[2], b[0] + b[2]) - max(a[0], b[0]))
    iy = max(0, min(a[1] + a[3], b[1] + b[3]) - max(a[1], b[1]))
    return ix * iy / max(1, min(a[2] * a[3], b[2] * b[3]))


# OpenCV's cascades keep per-call scratch data in the classifier object: two threads
# detecting at once (the app's upload preview beside a run's prepare) corrupt it
# ("0 <= scaleIdx" assertions, or a hang). One detection at a time; each takes well under a second.
_detect_lock = threading.Lock()


def detect_faces(image: Image.Image) -> list[Face]:
    """The faces in ``image``, in its own pixels, largest first (see :func:`_detect`)."""
    with _detect_lock:
        return _detect(image)


def _detect(image: Image.Image) -> list[Face]:
    """The faces in ``image``, in its own pixels, largest first.

    Frontal faces first; profile faces (each way round) where no frontal face is already;
    then up to two eyes in the upper part of each face.

    Args:
        image: any PIL image (it is converted to grey and shrunk to :data:`DETECT_SIDE`).

    Raises:
        FaceDetectionUnavailable: OpenCV is not installed.
    """
    import cv2

    cas = _cascades()
    k = min(1.0, DETECT_SIDE / max(image.size))
    grey = image.convert("L")
    if k < 1:
        grey = grey.resize((max(1, round(image.width * k)), max(1, round(image.height * k))), Image.Resampling.BILINEAR)
    g = cv2.equalizeHist(np.ascontiguousarray(np.asarray(grey)))
    side = max(20, round(min(g.shape) * MIN_FACE))
    found: list[Face] = []

    def add(boxes: Any, view: str, flipped: bool = False) -> None:
        for x, y, w, h in boxes if len(boxes) else []:
            x = g.shape[1] - x - w if flipped else x
            box = (int(x), int(y), int(w), int(h))
            if all(_overlap(box, f.box) < 0.3 for f in found):
                found.append(Face(box, view))

    # minNeighbors 5: no false faces on the bench's landscapes, paintings and the cat.
    add(cas["frontal"].detectMultiScale(g, 1.1, 5, minSize=(side, side)), "frontal")
    add(cas["profile"].detectMultiScale(g, 1.1, 5, minSize=(side, side)), "profile")
    add(
        cas["profile"].detectMultiScale(np.ascontiguousarray(g[:, ::-1]), 1.1, 5, minSize=(side, side)), "profile", True
    )
    out = []
    for f in found:
        x, y, w, h = f.box
        # The eyes lie in the face's upper part; the eye cascade looks only there.
        top = g[y + h // 6 : y + h * 3 // 5, x : x + w]
        es = (
            cas["eye"].detectMultiScale(top, 1.1, 5, minSize=(max(8, w // 8),) * 2, maxSize=(w // 3,) * 2)
            if top.size
            else []
        )
        es = sorted(es, key=lambda e: -e[2] * e[3])[:2] if len(es) else []
        eyes = tuple((float(x + ex + ew / 2), float(y + h // 6 + ey + eh / 2)) for ex, ey, ew, eh in es)
        if len(eyes) == 2 and abs(eyes[0][0] - eyes[1][0]) < w / 5:
            eyes = eyes[:1]  # two boxes on one eye
        out.append(Face(f.box, f.view, eyes).scaled(1 / k))
    return sorted(out, key=lambda f: -f.box[2] * f.box[3])


def protected_faces(image: Image.Image) -> list[Face]:
    """The faces a ``keep_faces`` run protects: :func:`detect_faces`, or none with a
    warning (one line, also in the CLI) where the detector is not installed."""
    try:
        return detect_faces(image)
    except FaceDetectionUnavailable as exc:
        warnings.warn(str(exc), stacklevel=3)
        return []


def timed_detect(image: Image.Image) -> tuple[list[Face], float]:
    """:func:`detect_faces` and its seconds (for the benches)."""
    t = time.perf_counter()
    faces = detect_faces(image)
    return faces, time.perf_counter() - t


def describe(faces: list[Face]) -> str:
    """One line for people: ``"2 faces (at 120,80 200×200 px; …)"``, or ``"no face"``."""
    if not faces:
        return "no face"
    where = "; ".join(
        f"{f.box[0]},{f.box[1]} {f.box[2]}×{f.box[3]} px" + (", profile" if f.view == "profile" else "") for f in faces
    )
    return f"{len(faces)} face{'s' if len(faces) > 1 else ''} (at {where})"
