"""nst.frame_run: a clip's later frame starts from the previous result, warped by the flow,
where the flow can follow it, and from the frame's own start elsewhere. Tiny runs: 64 px."""

from __future__ import annotations

import numpy as np
import torch

import nst
from bench import clips
from nst import frame_run, video
from tests.support.clips import TINY


def test_later_frames_start_from_the_previous_result(tmp_path, style_path, monkeypatch):
    clip = clips.write_clip(tmp_path / "in.mp4", 3, fps=10)
    warms = []
    init = frame_run.FrameRun.__init__

    def spy(self, inputs, stop, warm=None, temporal=None):
        warms.append((warm, temporal))
        init(self, inputs, stop, warm, temporal)

    monkeypatch.setattr(frame_run.FrameRun, "__init__", spy)
    results = [e.image for e in nst.stylize_video(clip, style_path, tmp_path / "o.mp4", **TINY) if e.image]
    assert warms[0] == (None, None) and all(w is not None and t is not None for w, t in warms[1:])
    # The warped start is the previous result moved by the flow: close to it (the clip moves 2 px a frame).
    prev = np.asarray(results[0], np.float32) / 255
    start = warms[1][0][0].permute(1, 2, 0).numpy()
    assert np.abs(start - prev)[:, 8:].mean() < 0.12


def test_pixels_the_flow_cannot_follow_start_from_the_frame_itself(tmp_path, style_path, monkeypatch):
    """Uncovered pixels (mask 0) start as the frame's own start (the photo), not as what the
    warp dragged there; the others as the warped previous result."""
    clip = clips.write_clip(tmp_path / "in.mp4", 2, fps=10)
    seen = []
    begin = frame_run.FrameRun.begin_scale

    def spy(self, index, scale):
        content_img, objective = begin(self, index, scale)
        if self.warm is not None:
            seen.append((self.image.detach().clone(), self.warm, self.temporal[1], content_img))
        return content_img, objective

    def warped(prev_raw, prev_grey, grey, weight):
        h, w = grey.shape
        target = torch.full((1, 3, h, w), 0.25)
        mask = torch.ones(1, 1, h, w)
        mask[..., : w // 2] = 0  # the left half uncovered
        return target.clone(), (target, mask, weight)

    monkeypatch.setattr(frame_run.FrameRun, "begin_scale", spy)
    monkeypatch.setattr(video, "warped", warped)  # as nst.video calls it
    list(nst.stylize_video(clip, style_path, tmp_path / "o.mp4", init="content", **TINY))  # its start: the photo
    ((start, warm, mask, content_img),) = seen
    w = start.shape[-1]
    photo = torch.from_numpy(np.asarray(content_img, np.float32) / 255).permute(2, 0, 1)
    assert torch.allclose(start[0, :, :, w // 2 :], warm[0, :, :, w // 2 :])
    assert torch.allclose(start[0, :, :, : w // 2], photo[:, :, : w // 2], atol=1 / 255)
