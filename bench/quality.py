"""The quality measures of the benches, each kept as the figures in the docs were made with it.

All run the embedded Caffe VGG19 (max pooling) in fp32 on the CPU, independent of the run's
own costs (:func:`vgg`). They differ, on purpose or by history; which is which:

- :class:`Judge`, the **reference quality** (docs/performance.md: against pastiche,
  resolution, the trials; docs/method.md: the "gram" figures of the controls;
  ``estimate --limits``' "painted"). *Squared* distances, each over a baseline:

  - content distance: the MSE of relu4_2 features against the content image's, over the
    same for the style image resized onto the output's grid (0 = the photo, 1 = no closer
    than the painting);
  - style distance: Σ over relu1_1 … relu5_1 of ‖Gram/(C·H·W) difference‖²_F against the
    style image (resized to the output's pixel count), over the same for the content image
    (0 = the painting's statistics, 1 = the photo's). Its sum over layers weighs the
    shallow layers most.

- :func:`pair_distances`, the **pairs distances** (docs/method.md: every pair painted;
  docs/regions-and-faces.md: "painted"). *Plain* (not squared) norms:

  - content distance ‖a(G) − a(C)‖ / ‖a(S) − a(C)‖ at relu4_2: about the square root of
    :class:`Judge`'s, on the same baseline;
  - style distance: the *mean over the five layers* of the per-layer ratio
    ‖Ĝ(G) − Ĝ(S)‖ / ‖Ĝ(C) − Ĝ(S)‖, Ĝ the Gram matrix over the positions (/(H·W)): each layer
    counts alike, so it is not :class:`Judge`'s style distance (a sum of squares).

- :func:`painted`: :func:`pair_distances`' style distance with the result's and the photo's
  Gram matrices taken outside the faces only (weights 1 − nst.faces' ovals, area-averaged
  to each layer's grid); and :func:`face_kept`: the eyes found again in the result (by
  OpenCV's eye cascade, and by their shape, :func:`eyes_matched`), and the face distance, the pairs' content distance on a face's box resized to 224 px
  (docs/regions-and-faces.md: the portraits).

- :func:`face_painted`: the same style distance with the Gram matrices over the face ovals
  only (0: the painting's statistics, 1: the photo's face's); ``painted(..., [])`` is the
  whole image's.

- :class:`SlicedWasserstein`: the sliced-Wasserstein distance of the features to the
  style's over relu1_1 … relu5_1 (fixed random directions), over the same for the content
  image (docs/method.md: the "sw" figures of the controls).

- :func:`feature_distance`: mean over relu3_1 and relu4_1 of ‖F(a) − F(b)‖ / ‖F(b)‖, two
  images of one size (docs/print-size.md: a large result shrunk, against the 1024 px one);
  and :func:`seam_ratio`, the gradient energy across tile borders over that across other lines.
"""

from __future__ import annotations

import functools
from pathlib import Path

import numpy as np
import torch
from PIL import Image

import nst

STYLE_LAYERS = ("relu1_1", "relu2_1", "relu3_1", "relu4_1", "relu5_1")


@functools.cache
def vgg() -> nst.VGG19Features:
    """The measuring network: the embedded VGG19, max pooling, CPU, up to relu5_1 (loaded once)."""
    return nst.load_model("embedded", "max", "cpu").truncated("relu5_1")


def to_tensor(img: Image.Image) -> torch.Tensor:
    """An RGB image as a ``(1, 3, H, W)`` float32 tensor in [0, 1] (as nst's own)."""
    a = np.asarray(img.convert("RGB"), dtype=np.float32) / 255.0
    return torch.from_numpy(a).permute(2, 0, 1).unsqueeze(0).contiguous()


@torch.no_grad()
def features(img: Image.Image, layers: tuple[str, ...] | list[str]) -> dict[str, torch.Tensor]:
    return vgg()(to_tensor(img), list(layers))


def gram(a: torch.Tensor) -> torch.Tensor:
    """``F Fᵀ`` of ``(N, C, H, W)`` activations in fp32, ``(N, C, C)`` (unnormalised, as nst's in fp32)."""
    f = a.float().flatten(2)
    return f @ f.transpose(1, 2)


def position_gram(a: torch.Tensor, weights: torch.Tensor | None = None) -> torch.Tensor:
    """The Gram matrix over the positions, /(H·W); with ``weights`` ``(1, 1, H', W')`` in
    [0, 1], over the weighted positions (the weights area-averaged to the layer's grid)."""
    a = a.float()
    if weights is None:
        return gram(a) / (a.shape[-1] * a.shape[-2])
    w = torch.nn.functional.interpolate(weights, size=a.shape[-2:], mode="area")
    f = (a * w.sqrt()).flatten(2)
    return f @ f.transpose(1, 2) / w.sum().clamp_min(1e-6)


# --- The reference quality ----------------------------------------------------------------


class Judge:
    """The reference quality of outputs against one content and style image at ``size`` px
    (see the module docstring): ``judge(path)`` → content and style distances and their sum."""

    def __init__(self, content: Path, style: Path, size: int) -> None:
        from .images import resize_to_long_side

        self.content = resize_to_long_side(nst.load_image(content), size)
        n = self.content.width * self.content.height
        self.style = nst.resize_to_pixels(nst.load_image(style), n)
        self.style_same_shape = nst.load_image(style).resize(self.content.size, Image.Resampling.LANCZOS)
        self.c = self._features(self.content)
        self.s = self._features(self.style)
        self.s_shaped = self._features(self.style_same_shape)

    @staticmethod
    def _features(img: Image.Image) -> dict[str, torch.Tensor]:
        feats = features(img, ["relu4_2", *STYLE_LAYERS])
        out = {"relu4_2": feats["relu4_2"]}
        for layer in STYLE_LAYERS:
            a = feats[layer]
            out[layer] = gram(a) / a[0].numel()
        return out

    def __call__(self, path: Path) -> dict:
        img = Image.open(path).convert("RGB")
        if img.size != self.content.size:
            img = img.resize(self.content.size, Image.Resampling.LANCZOS)
        o = self._features(img)
        mse = lambda a, b: float((a - b).pow(2).mean())
        content = mse(o["relu4_2"], self.c["relu4_2"]) / mse(self.s_shaped["relu4_2"], self.c["relu4_2"])
        sq = lambda x: sum(float((x[l] - self.s[l]).pow(2).sum()) for l in STYLE_LAYERS)
        style = sq(o) / sq(self.c)
        return {"content_distance": content, "style_distance": style, "quality": content + style}


# --- The pairs distances, and the portraits' ------------------------------------------------


def pair_distances(result: Image.Image, content: Image.Image, style: Image.Image) -> dict[str, float]:
    """The pairs' content and style distances of ``result`` (see the module docstring)."""
    layers = ("relu4_2", *STYLE_LAYERS)
    g = features(result, layers)
    c = features(content.resize(result.size, Image.LANCZOS), layers)
    s_grid = features(style.resize(result.size, Image.LANCZOS), layers)
    s = features(nst.resize_to_pixels(style, result.width * result.height), layers)
    content_d = float((g["relu4_2"] - c["relu4_2"]).norm() / (s_grid["relu4_2"] - c["relu4_2"]).norm())
    pg = position_gram
    style_d = [float((pg(g[l]) - pg(s[l])).norm() / (pg(c[l]) - pg(s[l])).norm()) for l in STYLE_LAYERS]
    return {"content": content_d, "style": sum(style_d) / len(style_d)}


def face_oval(wh: tuple[int, int], found: list[nst.Face]) -> torch.Tensor:
    """The faces' ovals (as nst.faces draws them, 0–1) at ``wh``, ``(1, 1, H, W)``."""
    from nst.weightmaps import _ellipse

    m = np.zeros((wh[1], wh[0]), np.float32)
    for f in found:
        x, y, w, h = f.box
        m = np.maximum(m, _ellipse(m.shape, x + w / 2, y + 0.52 * h, 0.55 * w, 0.68 * h, 0.35))
    return torch.from_numpy(m)[None, None]


def painted(result: Image.Image, content: Image.Image, style: Image.Image, found: list[nst.Face]) -> float:
    """The pairs' style distance outside the faces ``found`` (``content`` on the result's grid)."""
    outside = 1 - face_oval(result.size, found)
    g, c = features(result, STYLE_LAYERS), features(content, STYLE_LAYERS)
    s = features(nst.resize_to_pixels(style, result.width * result.height), STYLE_LAYERS)
    pg = position_gram
    d = [float((pg(g[l], outside) - pg(s[l])).norm() / (pg(c[l], outside) - pg(s[l])).norm()) for l in STYLE_LAYERS]
    return sum(d) / len(d)


def face_painted(result: Image.Image, content: Image.Image, style: Image.Image, found: list[nst.Face]) -> float:
    """The face's style distance: :func:`painted`'s, with the Gram matrices of the result and
    the photo taken over the face ovals only (0: the painting's statistics, 1: the photo's face's)."""
    inside = face_oval(result.size, found)
    g, c = features(result, STYLE_LAYERS), features(content, STYLE_LAYERS)
    s = features(nst.resize_to_pixels(style, result.width * result.height), STYLE_LAYERS)
    pg = position_gram
    d = [float((pg(g[l], inside) - pg(s[l])).norm() / (pg(c[l], inside) - pg(s[l])).norm()) for l in STYLE_LAYERS]
    return sum(d) / len(d)


def eyes_in(img: Image.Image, f: nst.Face) -> list[tuple[float, float]]:
    """The eyes OpenCV's eye cascade finds in the upper part of ``f``'s box in ``img``, the
    face enlarged to 240 px first (the cascade needs eyes of 20 px or more)."""
    import cv2

    from nst.faces import _cascades

    x, y, w, h = f.box
    k = 240 / w
    face = img.crop((x, y, x + w, y + h)).convert("L").resize((240, round(h * k)), Image.Resampling.LANCZOS)
    g = cv2.equalizeHist(np.ascontiguousarray(np.asarray(face)[round(h * k) // 6 : round(h * k) * 3 // 5]))
    es = _cascades()["eye"].detectMultiScale(g, 1.1, 5, minSize=(30, 30), maxSize=(80, 80))
    return [
        (x + (ex + ew / 2) / k, y + (round(h * k) // 6 + ey + eh / 2) / k) for ex, ey, ew, eh in (es if len(es) else [])
    ]


def eyes_matched(result: Image.Image, content: Image.Image, f: nst.Face, least: float = 0.7) -> dict:
    """Each eye of the photo (nst's features: the eyes found, else the box's proportions)
    found again in the result by its shape: the normalised cross-correlation of the
    luminance of a patch 0.32 × 0.2 face widths round the photo's eye with the result's,
    searched within 0.08 face widths of it. Colour and contrast do not count, the eye's
    shape and place do; an eye is kept where the best correlation is at least ``least``
    (0.7: set on the portraits bench at 256 px, where eyes painted over without keep_faces
    scored 0.42–0.68 and all eyes kept by the structure term 0.75–0.97; the scores are
    recorded beside the count)."""
    x, y, w, h = f.box
    grey = lambda img: np.asarray(img.convert("L"), np.float32)  # noqa: E731
    a, b = grey(content), grey(result.resize(content.size, Image.Resampling.LANCZOS))
    hw, hh, r = round(0.16 * w), round(0.10 * w), max(1, round(0.08 * w))
    scores = []
    for name in ("left eye", "right eye"):
        ex, ey = (round(v) for v in f.features()[name])
        t = a[ey - hh : ey + hh, ex - hw : ex + hw]
        if t.shape != (2 * hh, 2 * hw):
            continue
        t = (t - t.mean()) / (t.std() + 1e-6)
        best = -1.0
        for dy in range(-r, r + 1, max(1, r // 6)):
            for dx in range(-r, r + 1, max(1, r // 6)):
                p = b[ey + dy - hh : ey + dy + hh, ex + dx - hw : ex + dx + hw]
                if p.shape == t.shape:
                    best = max(best, float(((p - p.mean()) / (p.std() + 1e-6) * t).mean()))
        scores.append(best)
    return {"eyes_matched": sum(sc >= least for sc in scores), "eye_ncc": [round(sc, 3) for sc in scores]}


def face_kept(result: Image.Image, content: Image.Image, style: Image.Image, f: nst.Face) -> dict:
    """Eyes kept (each within 20% of the face's width of one found in the photo) and the face distance."""
    x, y, w, h = f.box
    mx, my = 0.1 * w, 0.1 * h
    box = (
        max(0, round(x - mx)),
        max(0, round(y - my)),
        min(content.width, round(x + w + mx)),
        min(content.height, round(y + h + my)),
    )
    crop = lambda img: img.crop(box).resize((224, 224), Image.Resampling.LANCZOS)
    g, c = features(crop(result), ("relu4_2",))["relu4_2"], features(crop(content), ("relu4_2",))["relu4_2"]
    s = features(crop(style.resize(content.size, Image.Resampling.LANCZOS)), ("relu4_2",))["relu4_2"]
    photo_eyes, result_eyes = eyes_in(content, f), eyes_in(result, f)
    kept = sum(any(np.hypot(ex - px, ey - py) < 0.2 * w for ex, ey in result_eyes) for px, py in photo_eyes)
    return {
        "box": list(f.box),
        "eyes_photo": len(photo_eyes),
        "eyes_kept": kept,
        "distance": float((g - c).norm() / (s - c).norm()),
        **eyes_matched(result, content, f),
    }


# --- Sliced Wasserstein ---------------------------------------------------------------------


class SlicedWasserstein:
    """Sliced-Wasserstein distance of an image's features to the style's, relative to the content's."""

    def __init__(self, content: Path, style: Path, size: int) -> None:
        from nst.losses import SlicedWassersteinStyleLoss

        from .images import resize_to_long_side

        self.size = resize_to_long_side(nst.load_image(content), size).size
        style_img = nst.resize_to_pixels(nst.load_image(style), self.size[0] * self.size[1])
        s = features(style_img, STYLE_LAYERS)
        gen = torch.Generator().manual_seed(1234)
        n = {
            l: f.shape[-1] * f.shape[-2]
            for l, f in features(nst.load_image(content).resize(self.size), STYLE_LAYERS).items()
        }
        self.losses = {l: SlicedWassersteinStyleLoss([s[l]], [1.0], n[l], gen) for l in STYLE_LAYERS}
        self.baseline = self._distance(nst.load_image(content).resize(self.size))

    def _distance(self, img: Image.Image) -> float:
        f = features(img, STYLE_LAYERS)
        return sum(float(self.losses[l](f[l])) for l in STYLE_LAYERS)

    def __call__(self, path: Path) -> float:
        img = Image.open(path).convert("RGB").resize(self.size, Image.Resampling.LANCZOS)
        return self._distance(img) / self.baseline


# --- Print size -----------------------------------------------------------------------------


def feature_distance(a: Image.Image, b: Image.Image) -> float:
    """Mean over relu3_1 and relu4_1 of ‖F(a) − F(b)‖ / ‖F(b)‖."""
    layers = ["relu3_1", "relu4_1"]
    fa, fb = features(a, layers), features(b, layers)
    return float(np.mean([float((fa[l] - fb[l]).norm() / fb[l].norm()) for l in layers]))


def seam_ratio(img: Image.Image, core: int, align: int, halo: int, steps: int, last_only: bool) -> float:
    """Gradient energy across the tile borders of the grids used over the energy across
    every other line on the same ``align`` phase (columns and rows together)."""
    from nst.tilegrid import grid_offset, layout

    x = np.asarray(img, dtype=np.float32) / 255
    h, w = x.shape[:2]
    ex = ((x[:, 1:] - x[:, :-1]) ** 2).mean(axis=(0, 2))  # ex[c-1]: across the line between columns c-1 and c
    ey = ((x[1:] - x[:-1]) ** 2).mean(axis=(1, 2))
    borders_x, borders_y = set(), set()
    for k in range(steps - 1 if last_only else 0, steps):
        for t in layout((h, w), core, halo, grid_offset(k, core, align)):
            if t.core[0] > 0:
                borders_y.add(t.core[0])
            if t.core[2] > 0:
                borders_x.add(t.core[2])
    on = [ex[c - 1] for c in borders_x] + [ey[r - 1] for r in borders_y]
    # Over many steps the moving grid may have put a border on every line: then there is
    # nothing to compare with (NaN), and the last grid's ratio is the measure.
    off = [ex[c - 1] for c in range(align, w, align) if c not in borders_x]
    off += [ey[r - 1] for r in range(align, h, align) if r not in borders_y]
    return float(np.mean(on) / np.mean(off))
