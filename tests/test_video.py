"""nst.video: a clip styled frame by frame (the first with the full plan, the later ones warped
from the previous result with the temporal cost), stop and a corrupt file keeping the frames
done, errors leaving nothing behind, and the command line. Tiny runs: 64 px, a few steps."""

from __future__ import annotations

import threading

import av
import numpy as np
import pytest
import torch

import nst
from bench import clips
from nst import video
from nst.cli import main
from nst.losses import TemporalLoss

from tests.support.clips import TINY


def _frames_and_rate(path) -> tuple[int, float, bool]:
    with av.open(str(path)) as c:
        s = c.streams.video[0]
        n = sum(1 for _ in c.decode(s))
        return n, float(s.average_rate), bool(c.streams.audio)


def test_a_clip_is_styled_frame_by_frame_with_its_audio(tmp_path, style_path):
    clip = clips.write_clip(tmp_path / "in.mp4", 8, fps=10, audio=True)
    out = tmp_path / "out.mp4"
    events = list(nst.stylize_video(clip, style_path, out, fps=5, **TINY))
    finished = [e for e in events if e.image is not None]
    assert [(e.frame, e.frames) for e in finished] == [(1, 4), (2, 4), (3, 4), (4, 4)]
    assert any(e.step is not None and e.step.losses.get("temporal") is not None for e in events)  # later frames
    last = events[-1]
    assert last.done and not last.stopped and last.note is None and last.output == out
    assert _frames_and_rate(out) == (4, 5.0, True)
    assert not list(tmp_path.glob(".*partial*"))


def test_the_temporal_cost_counts_consistent_pixels_only():
    target = torch.zeros(1, 3, 4, 4)
    mask = torch.zeros(1, 1, 4, 4)
    mask[..., :2] = 1
    loss = TemporalLoss(target, mask, 10.0)
    image = torch.zeros(1, 3, 4, 4)
    image[..., 2:] = 1  # differs only where the mask is 0
    assert float(loss(image)) == 0
    image[..., 0] = 0.5
    assert float(loss(image)) == pytest.approx(10 * 0.25 * 4 * 3 / 48)


def test_stop_keeps_the_frames_done_as_a_shorter_clip(tmp_path, style_path):
    clip = clips.write_clip(tmp_path / "in.mp4", 6, fps=10)
    out = tmp_path / "out.mp4"
    stop = threading.Event()
    last = None
    for e in nst.stylize_video(clip, style_path, out, stop=stop, **TINY):
        if e.frame == 2 and e.image is not None:
            stop.set()
        last = e
    assert last is not None and last.done and last.stopped and last.frame == 2
    assert "kept the 2 frames done" in last.note
    assert _frames_and_rate(out)[0] == 2


def test_a_file_corrupt_halfway_keeps_what_was_done_and_says_so(tmp_path, style_path):
    clip = clips.write_truncated(tmp_path / "cut.mkv")
    out = tmp_path / "out.mp4"
    events = list(nst.stylize_video(clip, style_path, out, fps=5, **TINY))
    last = events[-1]
    assert last.done and last.output == out and "cut short or corrupt" in last.note and "kept the" in last.note
    assert 2 <= _frames_and_rate(out)[0] < last.frames


def test_an_error_halfway_leaves_nothing_behind(tmp_path, style_path, monkeypatch):
    clip = clips.write_clip(tmp_path / "in.mp4", 4, fps=10)
    out = tmp_path / "out.mp4"

    def broken(*args, **kwargs):
        raise nst.DivergedError("the optimisation diverged")

    events = nst.stylize_video(clip, style_path, out, **TINY)
    next(e for e in events if e.image is not None)  # the first frame is written
    monkeypatch.setattr(video, "warped", broken)
    with pytest.raises(nst.DivergedError):
        list(events)
    assert list(tmp_path.iterdir()) == [clip]


def test_a_clip_longer_than_the_cap_names_the_cap(tmp_path, style_path):
    clip = clips.write_clip(tmp_path / "in.mp4", 20, fps=10)
    with pytest.raises(nst.VideoError, match="at most 1.5 s of a clip"):
        nst.prepare_video(clip, style_path, max_seconds=1.5, **TINY)
    assert nst.prepare_video(clip, style_path, max_seconds=1.5, duration=1.0, **TINY).frame_count == 10


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"fps": 0}, "fps must be at least 0.1"),
        ({"fps": 100}, "fps must be at most 60"),
        ({"start": 9}, "past the clip's end"),
        ({"duration": "long"}, "duration must be a number of seconds"),
    ],
)
def test_bad_timing_is_one_line(tmp_path, style_path, kwargs, message):
    clip = clips.write_clip(tmp_path / "in.mp4", 4, fps=10)
    with pytest.raises(nst.Error, match=message):
        nst.prepare_video(clip, style_path, **kwargs, **TINY)


def test_the_cli_writes_an_mp4_and_refuses_bad_clips(tmp_path, style_path, capsys):
    clip = clips.write_clip(tmp_path / "in.mp4", 6, fps=10, audio=True)
    out = tmp_path / "out.mp4"
    argv = [str(clip), str(style_path), "-o", str(out), "--size", "64", "--steps", "2", "--frame-steps", "1"]
    assert main([*argv, "--fps", "5", "--duration", "0.4", "--no-keep-faces"]) == 0
    assert _frames_and_rate(out) == (2, 5.0, True)
    assert main([*argv, "--start", "5"]) == 2
    assert "past the clip's end" in capsys.readouterr().err
    audio = clips.write_audio_only(tmp_path / "voice.mp4")
    assert main([str(audio), str(style_path), "-o", str(tmp_path / "v.mp4")]) == 2
    assert "has only audio, no video track" in capsys.readouterr().err
    assert main([str(clip), str(style_path), "-o", str(tmp_path / "x.png")]) == 2
    assert "must be a .mp4 or .gif file" in capsys.readouterr().err
    assert sorted(p.name for p in tmp_path.iterdir()) == ["in.mp4", "out.mp4", "voice.mp4"]


def test_an_animated_gif_is_a_clip_and_a_gif_can_be_written(tmp_path, style_path):
    from PIL import Image

    frames = [Image.fromarray(clips.frame_at(i, 64, 48)) for i in range(3)]
    gif = tmp_path / "anim.webp"  # an animated GIF, whatever its name says
    frames[0].save(gif, format="GIF", save_all=True, append_images=frames[1:], duration=200, loop=0)
    out = tmp_path / "out.gif"
    last = list(nst.stylize_video(gif, style_path, out, **TINY))[-1]
    assert last.done and last.frame == 3 and last.rate == pytest.approx(5.0)
    with Image.open(out) as img:
        assert img.format == "GIF" and img.n_frames == 3


def test_the_eta_covers_the_whole_clip_from_the_first_frame(tmp_path, style_path):
    clip = clips.write_clip(tmp_path / "in.mp4", 4, fps=10)
    events = list(nst.stylize_video(clip, style_path, tmp_path / "o.mp4", **TINY))
    first = [e for e in events if e.frame == 0 and e.step is not None and not e.step.done]
    assert first and all(e.eta is not None and e.eta > (e.step.eta or 0) for e in first)  # later frames counted
    assert events[-1].eta == 0


def test_a_clip_styled_in_parts_is_the_clip_styled_whole(tmp_path, style_path):
    """What a front end that splits a clip over calls or processes relies on: each part
    starts from the last one's carry, which pickles."""
    import pickle

    clip = clips.write_clip(tmp_path / "in.mp4", 5, fps=10)
    run = nst.prepare_video(clip, style_path, **TINY)
    whole = [np.asarray(e.image) for e in run.segment() if e.carry is not None]
    parts, carry, calls = [], None, 0
    while carry is None or carry.done < run.frame_count:
        calls += 1
        for e in run.segment(carry, 2):
            if e.carry is not None:
                parts.append(np.asarray(e.image))
                carry = pickle.loads(pickle.dumps(e.carry))
        assert e.done and not e.stopped and e.note is None
    assert calls == 3 and len(parts) == len(whole) == 5
    for a, b in zip(whole, parts, strict=True):
        assert np.abs(a.astype(int) - b.astype(int)).max() <= 1


def test_one_mask_applies_to_every_frame(tmp_path, style_path):
    """A style mask white on the left only: every frame keeps the photo on the right, and is
    painted on the left."""
    from PIL import Image

    clip = clips.write_clip(tmp_path / "in.mp4", 3, size=(64, 48), fps=10)
    mask = np.zeros((48, 64), np.uint8)
    mask[:, :32] = 255
    Image.fromarray(mask).save(tmp_path / "mask.png")
    settings = {**TINY, "steps": 6, "frame_steps": 8, "temporal_weight": 0}  # later frames on their own
    run = nst.prepare_video(clip, style_path, masks=[tmp_path / "mask.png"], **settings)
    results = [np.asarray(e.image, np.float32) / 255 for e in run.segment() if e.carry is not None]
    photos = [np.asarray(f, np.float32) / 255 for f in video.frames(clip, run.info, run.times)]
    assert len(results) == len(photos) == 3
    for result, photo in zip(results, photos, strict=True):
        photo = (
            np.asarray(Image.fromarray((photo * 255).astype(np.uint8)).resize(result.shape[1::-1]), np.float32) / 255
        )
        w = result.shape[1]
        kept = np.abs(result - photo)[:, w // 2 + 4 :].mean()
        painted = np.abs(result - photo)[:, : w // 2 - 4].mean()
        assert kept < 0.05 and painted > 2 * kept, (kept, painted)


def _photo_clip(path, photo, frames: int = 3, side: int = 256):
    """A clip of ``photo`` (square, ``side`` px) moving 2 px right a frame."""
    from PIL import Image

    img = np.asarray(Image.open(photo).convert("RGB").resize((side, side)))
    with av.open(str(path), "w") as c:
        v = c.add_stream("libx264", rate=10)
        v.width, v.height, v.pix_fmt = side, side, "yuv420p"
        for i in range(frames):
            for packet in v.encode(
                av.VideoFrame.from_ndarray(np.ascontiguousarray(np.roll(img, 2 * i, 1)), format="rgb24")
            ):
                c.mux(packet)
        for packet in v.encode():
            c.mux(packet)
    return path


def test_faces_are_found_in_each_frame(tmp_path, style_path, monkeypatch):
    from tests.support.paths import ROOT

    clip = _photo_clip(tmp_path / "face.mp4", ROOT / "examples" / "astronaut.jpg")
    frames = []  # each frame's run, as its FrameRun gets it
    init = video.FrameRun.__init__

    def spy(self, inputs, *args, **kwargs):
        frames.append(inputs)
        init(self, inputs, *args, **kwargs)

    monkeypatch.setattr(video.FrameRun, "__init__", spy)
    list(nst.stylize_video(clip, style_path, tmp_path / "o.mp4", **{**TINY, "keep_faces": True}))
    assert len(frames) == 3 and all(len(r.faces) == 1 for r in frames)
    xs = [r.faces[0].box[0] for r in frames]
    assert xs[0] < xs[-1]  # found where the face is in that frame (it moves right)


def test_a_colour_mode_applies_to_every_frame(tmp_path, style_path):
    from nst.color import rgb_to_ycbcr

    clip = clips.write_clip(tmp_path / "in.mp4", 3, size=(64, 48), fps=10)
    run = nst.prepare_video(clip, style_path, preserve_color="swap", **TINY)
    results = [e.image for e in run.segment() if e.carry is not None]
    photos = list(video.frames(clip, run.info, run.times))
    assert len(results) == 3
    for result, photo in zip(results, photos, strict=True):
        a = torch.from_numpy(np.asarray(result, np.float32) / 255).permute(2, 0, 1)[None]
        b = torch.from_numpy(np.asarray(photo.resize(result.size), np.float32) / 255).permute(2, 0, 1)[None]
        assert float((rgb_to_ycbcr(a)[0, 1:] - rgb_to_ycbcr(b)[0, 1:]).abs().mean()) < 0.01
