"""nst_web.gpu's clip on ZeroGPU: a clip in parts, a GPU call each (the calls faked here;
tests/test_zerogpu.py runs them through the real `spaces`). Each part starts from the last
one's carry; a part that fails or is refused after frames were done, and Stop between parts,
end the clip with the frames done."""

from __future__ import annotations

from types import SimpleNamespace

import gradio as gr
import pytest

import nst
from nst.schedule import ScalePlan
from nst_web import gpu

FRAMES = 5


class _Clip:
    """What the clip loop reads of a PreparedVideo."""

    frame_count, rate = FRAMES, 10.0
    first = SimpleNamespace(work_plan=lambda: [ScalePlan((64, 48), 4)])

    def later(self):
        return SimpleNamespace(work_plan=lambda: [ScalePlan((64, 48), 2)])

    def weight(self, start: int, end: int) -> float:
        return float(end - start)


class _Calls:
    """The fake GPU function: each call styles its frames (events with a carry), then ends;
    ``refuse`` / ``fail``: the call numbers (from 1) refused when scheduled / failing after a frame."""

    def __init__(self, refuse=(), fail=(), stop_after=None):
        self.carries, self.refuse, self.fail, self.stop_after = [], set(refuse), set(fail), stop_after

    def __call__(self, video, carry, count, stop, seconds, deadline, pace=None):
        self.carries.append(carry.done)
        call = len(self.carries)
        if call in self.refuse:
            raise gr.Error("No GPU was available after 60s. Retry later", print_exception=False)
        return self._frames(carry, count, call)

    def _frames(self, carry, count, call):
        end = min(FRAMES, carry.done + count)
        while carry.done < end:
            carry = nst.VideoCarry(carry.done + 1, None, None, 0.1)
            yield nst.VideoProgress(frame=carry.done, frames=FRAMES, image=object(), carry=carry)
            if call in self.fail:
                yield gpu.Failed(RuntimeError("CUDA error: an illegal memory access"))
                return
            if self.stop_after == carry.done:
                _STOP.set()
        yield nst.VideoProgress(frame=carry.done, frames=FRAMES, done=True)


_STOP: gpu.RunStop


@pytest.fixture
def zero(monkeypatch):
    global _STOP
    _STOP = gpu.RunStop()
    monkeypatch.setattr(gpu, "ON_ZERO_GPU", True)
    monkeypatch.setattr(gpu, "_slim_video", lambda video: video)
    monkeypatch.setattr(gpu, "clip_part", lambda video, carry, budget, later: (2, 60))  # two frames a call

    def run(calls):
        monkeypatch.setattr(gpu, "_clip_on_gpu", calls)
        events = list(gpu._clip_stream(_Clip(), _STOP, None))
        return [e for e in events if isinstance(e, nst.VideoProgress) and e.carry is not None], events[-1]

    return run


def test_each_part_starts_from_the_last_ones_carry(zero):
    calls = _Calls()
    frames, end = zero(calls)
    assert calls.carries == [0, 2, 4] and [f.frame for f in frames] == [1, 2, 3, 4, 5]
    assert end.done and not end.stopped and end.frame == FRAMES


def test_a_later_part_refused_keeps_the_frames_done(zero):
    frames, end = zero(_Calls(refuse={2}))
    assert len(frames) == 2 and end.done and end.stopped and end.frame == 2
    assert "No GPU was available" in end.note


def test_a_later_part_that_fails_keeps_the_frames_done(zero):
    frames, end = zero(_Calls(fail={2}))
    assert len(frames) == 3 and end.stopped and end.frame == 3 and "illegal memory access" in end.note


def test_the_first_part_refused_is_the_visitors_error(zero):
    with pytest.raises(gr.Error, match="No GPU was available"):
        zero(_Calls(refuse={1}))


def test_stop_between_parts_ends_the_clip_stopped(zero):
    frames, end = zero(_Calls(stop_after=2))  # set as the first part's last frame is done
    assert len(frames) == 2 and end.stopped and end.frame == 2
