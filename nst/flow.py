"""Optical flow between two frames, the warp it gives, and where it can be trusted.

After Ruder, Dosovitskiy and Brox, "Artistic style transfer for videos" (2016): the previous
frame's result, warped by the flow, starts the next frame and anchors its temporal cost on the
pixels where the forward and backward flows agree (not occluded) and that are not on a motion
boundary. The flow is OpenCV's (already a dependency, for faces); their paper used
DeepFlow and EpicFlow, which are slower and not in OpenCV's wheels. ``bench/video.py``
measured DIS and Farneback on the shared clip (docs/video.md): DIS is the default.
"""

from __future__ import annotations

import numpy as np
from PIL import Image

__all__ = ["FLOW_METHODS", "consistency", "flow", "grey", "warp"]

FLOW_METHODS = ("dis", "farneback")


def grey(img: Image.Image | np.ndarray) -> np.ndarray:
    """``img`` as an 8-bit grey ``(H, W)`` array, what the flow methods read."""
    import cv2  # at the call: importing cv2 sets LD_LIBRARY_PATH, and importing nst changes nothing

    a = np.asarray(img)
    if a.ndim == 3:
        a = cv2.cvtColor(np.ascontiguousarray(a[..., :3]), cv2.COLOR_RGB2GRAY)
    return np.ascontiguousarray(a, dtype=np.uint8)


def flow(a: np.ndarray, b: np.ndarray, method: str = "dis") -> np.ndarray:
    """The flow from frame ``a`` to frame ``b``: ``(H, W, 2)`` float32, where pixel ``(x, y)``
    of ``a`` is at ``(x, y) + flow[y, x]`` in ``b``.

    Args:
        a: grey frame (:func:`grey`).
        b: grey frame of the same size.
        method: ``dis`` (OpenCV's Dense Inverse Search, medium preset) or ``farneback``.
    """
    import cv2

    if method == "dis":
        dis = cv2.DISOpticalFlow_create(cv2.DISOPTICAL_FLOW_PRESET_MEDIUM)  # type: ignore[attr-defined]  # missing from cv2's stubs
        return np.asarray(dis.calc(a, b, None))
    if method == "farneback":
        return np.asarray(cv2.calcOpticalFlowFarneback(a, b, None, 0.5, 4, 15, 3, 5, 1.2, 0))  # type: ignore[call-overload]  # None: a new array
    raise ValueError(f"unknown flow method {method!r}; known: {', '.join(FLOW_METHODS)}")


def _sample_grid(f: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    h, w = f.shape[:2]
    xs, ys = np.meshgrid(np.arange(w, dtype=np.float32), np.arange(h, dtype=np.float32))
    return xs + f[..., 0], ys + f[..., 1]


def warp(image: np.ndarray, f: np.ndarray) -> np.ndarray:
    """``image`` sampled at ``(x, y) + f[y, x]`` (bilinear; the border repeated outside).

    With ``f`` the flow from frame t to frame t−1 (the backward flow), this moves frame
    t−1's pixels (or its result) to where they are in frame t.

    Args:
        image: ``(H, W)`` or ``(H, W, C)``, float32 or uint8.
        f: ``(H, W, 2)`` flow of the same size.
    """
    import cv2

    mx, my = _sample_grid(f)
    return cv2.remap(image, mx, my, cv2.INTER_LINEAR, borderMode=cv2.BORDER_REPLICATE)


def consistency(backward: np.ndarray, forward: np.ndarray) -> np.ndarray:
    """Where the flows can be trusted, for frame t: 1, else 0 (``(H, W)`` float32).

    Ruder et al.'s two checks: a pixel is disoccluded where following the backward flow
    (t → t−1) and then the forward flow (t−1 → t) does not come back near where it started,
    ``|ŵ + w̃|² > 0.01 (|ŵ|² + |w̃|²) + 0.5``; and it is on a motion boundary where the
    backward flow's gradient is large, ``|∇u|² + |∇v|² > 0.01 |ŵ|² + 0.002``.

    Args:
        backward: the flow from frame t to frame t−1.
        forward: the flow from frame t−1 to frame t.
    """
    back = backward
    fwd_at = warp(forward, back)  # the forward flow where each pixel of t came from
    total = back + fwd_at
    occluded = (total**2).sum(-1) > 0.01 * ((back**2).sum(-1) + (fwd_at**2).sum(-1)) + 0.5
    du = np.gradient(back[..., 0])
    dv = np.gradient(back[..., 1])
    grad = du[0] ** 2 + du[1] ** 2 + dv[0] ** 2 + dv[1] ** 2
    boundary = grad > 0.01 * (back**2).sum(-1) + 0.002
    return (~(occluded | boundary)).astype(np.float32)
