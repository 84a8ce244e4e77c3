"""The bad-input catalogue (bench/bad_inputs.py) through the Python API and the command line
(in-process, and a sample through a real ``python -m nst``); what the odd files read as; and a
pickled weights file's code that never runs. The same cases through the app's /stylize:
tests/test_app_reliability.py.

This is the fast part (CI); ``bench/load.py`` is the soak (all cases through the three
surfaces with counts). Runs are tiny (64–96 px, a few steps).
"""

from __future__ import annotations

import pickle
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from bench import bad_inputs as bi

CASES = {c.name: c for c in bi.build(Path("/nonexistent"), write=False)}  # for parametrize: names, no files
SUBPROCESS_CASES = ["truncated-jpeg", "steps-text", "weights-pickle-payload"]  # a real `python -m nst`


def test_there_are_at_least_40_kinds():
    assert len(CASES) >= 40
    assert {"file", "path", "type", "parameter", "weights"} <= {c.group for c in CASES.values()}
    assert {c.expect for c in CASES.values()} == {"result", "message"}


@pytest.mark.parametrize("name", CASES)
def test_api(name, bad_cases, content_path, style_path):
    case = bad_cases[name]
    outcome = bi.try_api(case, content_path, style_path)
    assert bi.judge(case, "api", outcome) is None


@pytest.mark.parametrize("name", CASES)
def test_cli(name, bad_cases, content_path, style_path, tmp_path):
    case = bad_cases[name]
    outcome = bi.try_cli(case, content_path, style_path, tmp_path)
    if reason := bi.not_tried(case, "cli", outcome):
        pytest.skip(reason)
    assert bi.judge(case, "cli", outcome) is None


@pytest.mark.parametrize("name", SUBPROCESS_CASES)
def test_cli_subprocess(name, bad_cases, content_path, style_path, tmp_path):
    case = bad_cases[name]
    outcome = bi.try_cli(case, content_path, style_path, tmp_path, subprocess_=True)
    assert bi.judge(case, "cli", outcome) is None


@pytest.mark.parametrize("name", [n for n, c in CASES.items() if c.twin is not None])
def test_each_odd_file_reads_as_its_twin(name, bad_cases):
    """The odd files that must load, read by nst as the pixels they were made from: the
    results above are compared with the photo's side only, so the style side is checked here."""
    import nst

    case = bad_cases[name]
    odd = case.content if case.content is not bi.GOOD else case.style
    got = nst.load_image(odd)
    twin = case.twin()
    if got.size != twin.size:  # the huge photos' twins are drawn at a tenth of their size
        assert got.width * twin.height == got.height * twin.width
        got = got.resize(twin.size, Image.Resampling.BOX)
    # Lossless files exactly but for rounding; JPEG and WebP within a few levels.
    lossy = str(odd).endswith((".jpg", "jpeg-named.png", ".webp"))
    off = float(np.abs(np.asarray(got, float) - np.asarray(twin.convert("RGB"), float)).mean())
    assert off <= (12 if lossy else 1), off


def test_pickled_code_never_ran(bad_case_dir, bad_cases, content_path, style_path, tmp_path):
    # Hand evil.pth to the API and the command line here, so that the test means the same
    # alone and in the suite (the app takes no weights file)...
    case = bad_cases["weights-pickle-payload"]
    assert bi.try_api(case, content_path, style_path).kind == "message"
    assert bi.try_cli(case, content_path, style_path, tmp_path / "cli").kind == "message"
    # ...and its payload has not run.
    assert not (bad_case_dir / "pickle-ran").exists()
    # ...though it is real: plain unpickling runs it (here, on a copy with its own marker).
    marker = tmp_path / "ran"

    class Payload:
        def __reduce__(self):
            return (exec, (f"open({str(marker)!r}, 'w').close()",))

    data = pickle.dumps({"conv1_1.weight": Payload()})
    pickle.loads(data)
    assert marker.exists()


VIDEO_CASES = {c.name: c for c in bi.video_cases()}


@pytest.mark.parametrize("surface", ["api", "cli"])
@pytest.mark.parametrize("name", VIDEO_CASES)
def test_bad_clips(name, surface, style_path, tmp_path):
    # Each bad clip: one line and no file left, or a clip (upright, the frames asked), or a
    # shorter clip that says it was cut short.
    case = VIDEO_CASES[name]
    source = tmp_path / "in"
    source.mkdir()
    clip = case.write(source)
    out_dir = tmp_path / "out"
    outcome = bi.try_video(case, clip, style_path, out_dir, surface)
    assert bi.judge_video(case, outcome, out_dir) is None
