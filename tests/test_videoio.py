"""nst.videoio: clips recognised by content, sampled by timestamps, written as MP4 (H.264,
yuv420p, with the audio) or GIF; and each bad clip refused with one line."""

from __future__ import annotations

import av
import numpy as np
import pytest
from PIL import Image

from bench import clips
from nst import videoio as v


def _index(img: Image.Image) -> int:
    """The frame index bench.clips wrote into the corner block."""
    return round(float(np.asarray(img)[2:6, 2:6].mean()) / 25)


def test_clips_are_recognised_by_content_not_by_name(tmp_path):
    clip = clips.write_clip(tmp_path / "clip.mp4", 3).rename(tmp_path / "clip.png")  # an MP4 named .png
    still = tmp_path / "still.mp4"
    Image.new("RGB", (8, 8)).save(still, format="PNG")  # a PNG named .mp4
    gif = tmp_path / "anim.jpg"
    frames = [Image.new("RGB", (16, 16), (i * 80, 0, 0)) for i in range(3)]
    frames[0].save(gif, format="GIF", save_all=True, append_images=frames[1:], duration=100)
    text = tmp_path / "notes.mp4"
    text.write_text("not a video")
    assert v.is_video(clip) and v.is_video(gif)
    assert not v.is_video(still) and not v.is_video(text) and not v.is_video(tmp_path / "missing.mp4")


def test_frame_count_and_rate(tmp_path):
    clip = clips.write_clip(tmp_path / "a.mp4", 20, fps=10)
    info = v.probe(clip)
    assert (info.width, info.height, info.rate) == (64, 48, 10.0)
    times = v.sample_times(info, 5, 0.0, None)
    got = list(v.frames(clip, info, times))
    assert len(got) == 10 and [_index(f) for f in got[:5]] == [0, 2, 4, 6, 8]
    assert len(v.sample_times(info, None, 0.5, 1.0)) == 10  # the clip's own rate, from 0.5 s for 1 s
    out = tmp_path / "out.mp4"
    w = v.ClipWriter(out, 5)
    for f in got:
        w.write(f)
    assert w.close() == 10
    with av.open(str(out)) as c:
        s = c.streams.video[0]
        assert s.codec_context.name == "h264" and s.codec_context.pix_fmt == "yuv420p"
        assert s.average_rate == 5 and s.frames == 10 and not c.streams.audio


def test_variable_frame_rate_is_sampled_by_timestamps(tmp_path):
    clip = clips.write_clip(tmp_path / "vfr.mp4", 6, times=[0, 0.1, 0.15, 0.5, 0.55, 0.9])
    info = v.probe(clip)
    got = [_index(f) for f in v.frames(clip, info, [0.0, 0.1, 0.2, 0.3, 0.45, 0.5, 0.6])]
    assert got == [0, 1, 2, 2, 2, 3, 4]  # the frame shown at each time, not the n-th frame


def test_rotation_metadata_turns_the_frames_upright(tmp_path):
    clip = clips.write_clip(tmp_path / "r.mp4", 3, size=(64, 48), rotation=90)
    info = v.probe(clip)
    assert (info.width, info.height, info.rotation) == (48, 64, 90)
    first = next(v.frames(clip, info, [0.0]))
    assert first.size == (48, 64)
    # Turned 90° counter-clockwise: the top-left index block is now at the bottom-left.
    plain = clips.frame_at(0, 64, 48)
    assert np.abs(np.asarray(first, np.float32) - np.rot90(plain, 1)).mean() < 8


def test_the_audio_is_kept_for_the_span_taken(tmp_path):
    clip = clips.write_clip(tmp_path / "a.mp4", 20, fps=10, audio=True)
    info = v.probe(clip)
    assert info.audio
    out = tmp_path / "out.mp4"
    w = v.ClipWriter(out, 10, clip, start=0.5)
    for f in v.frames(clip, info, v.sample_times(info, None, 0.5, 1.0)):
        w.write(f)
    w.close()
    with av.open(str(out)) as c:
        assert c.streams.audio, "the audio track was dropped"
        a = c.streams.audio[0]
        samples = sum(f.samples for f in c.decode(a))
    assert abs(samples / 16000 - 1.0) < 0.1  # one second of it, as the video


def test_gif_and_even_sides(tmp_path):
    frames = [Image.fromarray(clips.frame_at(i, 33, 25)) for i in range(3)]
    out = tmp_path / "o.mp4"
    w = v.ClipWriter(out, 8)
    for f in frames:
        w.write(f)
    w.close()
    with av.open(str(out)) as c:
        assert (c.streams.video[0].width, c.streams.video[0].height) == (32, 24)  # 4:2:0 needs even sides
    gif = tmp_path / "o.gif"
    w = v.ClipWriter(gif, 8)
    for f in frames:
        w.write(f)
    w.close()
    with Image.open(gif) as img:
        assert img.format == "GIF" and img.n_frames == 3 and img.size == (33, 25)


def test_not_a_video(tmp_path):
    text = tmp_path / "x.mp4"
    text.write_text("hello")
    with pytest.raises(v.VideoError, match="'x.mp4' is not a video nst can read"):
        v.probe(text)


def test_a_still_image_is_not_a_clip(tmp_path):
    still = tmp_path / "still.mp4"
    Image.new("RGB", (8, 8)).save(still, format="PNG")
    with pytest.raises(v.VideoError, match="'still.mp4' is a still image, not a video"):
        v.probe(still)


def test_audio_only(tmp_path):
    with pytest.raises(v.VideoError, match="has only audio, no video track"):
        v.probe(clips.write_audio_only(tmp_path / "a.mp4"))


def test_no_frames(tmp_path):
    clip = clips.write_clip(tmp_path / "a.mkv", 30, (96, 64), codec="mpeg4")
    cut = tmp_path / "header.mkv"
    cut.write_bytes(clip.read_bytes()[:600])  # the header and no frame
    with pytest.raises(v.VideoError, match="no frames"):
        v.probe(cut)


def test_huge_frames_are_refused_before_decoding(tmp_path, monkeypatch):
    clip = clips.write_clip(tmp_path / "a.mp4", 2, size=(64, 48))
    monkeypatch.setattr(v, "MAX_FRAME_PIXELS", 64 * 48 - 1)
    decoded = []
    monkeypatch.setattr(av.container.InputContainer, "decode", lambda *a, **k: decoded.append(1) or iter(()))
    with pytest.raises(v.VideoError, match=r"frames of 64×48 px, more than the"):
        v.probe(clip)
    assert not decoded


def test_a_file_cut_halfway_yields_its_frames_then_says_so(tmp_path):
    clip = clips.write_truncated(tmp_path / "t.mkv")
    info = v.probe(clip)
    got = []
    with pytest.raises(v.VideoError, match="cut short or corrupt"):
        for f in v.frames(clip, info, v.sample_times(info, None, 0.0, None)):
            got.append(f)
    assert 5 <= len(got) < 30
