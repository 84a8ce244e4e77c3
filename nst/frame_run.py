"""A clip's frame as a run: started from the previous result warped by the optical flow,
with the temporal cost holding the pixels the flow can follow (Ruder et al. 2016; :mod:`nst.video`).
"""

from __future__ import annotations

import threading

import numpy as np
import torch

from . import flow as fl
from .errors import SettingsError
from .inputs import Progress
from .losses import TemporalLoss
from .masks import resize_mask
from .pipeline import PreparedRun
from .run import Run
from .steps import resize
from .tiles import TiledObjective

__all__ = ["FrameRun", "warped"]


class FrameRun(Run):
    """A frame's :class:`~nst.run.Run`: started from ``warm`` (the previous result, warped), with
    the temporal cost on; it keeps its optimised image (``raw``), which the next frame warps.

    Args:
        inputs: the frame's run, checked and planned.
        stop: as :class:`Run`'s.
        warm: ``(1, 3, H, W)`` in [0, 1], the image to start from, else None (the first frame).
        temporal: ``(target, mask, weight)`` of :class:`~nst.losses.TemporalLoss`, else None.
    """

    def __init__(
        self,
        inputs: PreparedRun,
        stop: threading.Event | None,
        warm: torch.Tensor | None = None,
        temporal: tuple[torch.Tensor, torch.Tensor, float] | None = None,
    ) -> None:
        super().__init__(inputs, stop)
        self.warm, self.temporal = warm, temporal
        self.raw: torch.Tensor | None = None

    def begin_scale(self, index, scale):  # type: ignore[no-untyped-def]  # Run.begin_scale's
        content_img, objective = super().begin_scale(index, scale)  # self.image: the frame's own start
        device = self.inputs.device
        assert self.image is not None
        hw = self.image.shape[-2:]
        if self.warm is not None and index == 0:
            # The pixels the flow follows start from the previous result; the others (uncovered
            # as things move, or on a motion boundary) from the frame's own start, not from
            # whatever the warp dragged there.
            warm = resize(self.warm, hw).to(device)
            if self.temporal is not None:
                mask = resize_mask(self.temporal[1], hw).to(device)
                warm = mask * warm + (1 - mask) * self.image.detach()
            self.image = warm.detach().requires_grad_(True)
        if self.temporal is not None and self.temporal[2] > 0:
            if isinstance(objective, TiledObjective):
                raise SettingsError(
                    "video frames this large are optimised in tiles, which have no temporal cost; lower size"
                )
            target, mask, weight = self.temporal
            objective.temporal = TemporalLoss(resize(target, hw).to(device), resize_mask(mask, hw).to(device), weight)
        return content_img, objective

    def finish(self, index: int, stopped: bool) -> Progress:
        self.raw = None if self.image is None else self.image.detach().cpu().clone()
        return super().finish(index, stopped)


def warped(
    prev_raw: torch.Tensor, prev_grey: np.ndarray, grey: np.ndarray, weight: float
) -> tuple[torch.Tensor, tuple[torch.Tensor, torch.Tensor, float]]:
    """The previous result warped onto this frame (the start), and the temporal cost's target and mask."""
    backward = fl.flow(grey, prev_grey)
    forward = fl.flow(prev_grey, grey)
    h, w = grey.shape
    raw = resize(prev_raw, (h, w))  # the optimised image is at the output size already
    hwc = raw[0].permute(1, 2, 0).numpy().astype(np.float32)
    moved = fl.warp(hwc, backward)
    if moved.ndim == 2:
        moved = moved[..., None]
    target = torch.from_numpy(np.ascontiguousarray(moved)).permute(2, 0, 1)[None].clamp(0, 1).contiguous()
    mask = torch.from_numpy(fl.consistency(backward, forward))[None, None]
    return target.clone(), (target, mask, weight)
