"""A fixed set of runs gives the same pixels from one version of nst to the next.

Recorded before nst's run was rebuilt as an object with phases (``NST_RECORD_PIXELS=1``
writes the references): a move of code that changes what a run computes, or in which
order it draws its random numbers, fails here. Each recipe is small (≤ 128 px, few steps)
but goes through one of the run's paths: the default multi-scale run, regions with two
styles, the faces' content weight, a time limit that cuts the plan, a scale run in tiles.

The references hold the pixels themselves (PNG). Floating-point sums may differ between
CPUs and thread counts, so a machine other than the recording one compares within a
small tolerance; on the recording machine with its thread count they must be equal.
"""

from __future__ import annotations

import json
import os
import platform
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

import nst

ROOT = Path(__file__).resolve().parents[1]
EXAMPLES = ROOT / "examples"
DATA = Path(__file__).resolve().parent / "data" / "same-pixels"
RECORD = os.environ.get("NST_RECORD_PIXELS") == "1"


# The default precision follows the CPU (bf16 where it has the instructions): the references
# are in fp32, which every CPU computes.
FP32 = {"precision": "fp32"}


def _columns(size: tuple[int, int], left: bool) -> Image.Image:
    w, h = size
    a = np.zeros((h, w), np.uint8)
    if left:
        a[:, : w // 2] = 255
    else:
        a[:, w // 2 :] = 255
    return Image.fromarray(a, "L")


def _slow_cost() -> nst.CostModel:
    """A cost model ten seconds a step: a 130 s limit then cuts the plan to 11 steps on any
    machine. The budget left after the start-up (loading the network: about a second) is
    mid-way between 11 and 12 steps' worth, so a slower start changes nothing, and the real
    steps (milliseconds here) never reach the clock's cut: the last scale takes back the
    steps the plan cut (nst.timelimit.fit_steps), 14 in all."""
    return nst.CostModel(step=(10.0, 0.0), scale=(1.0, 0.0), finish=(0.5, 0.0), setup=1.0, measured=True)


def _last(*args, **kwargs) -> nst.Progress:
    *_, last = nst.stylize(*args, **kwargs)
    return last


def _run(name: str) -> nst.Progress:
    photo, starry, mosaic = EXAMPLES / "chelsea.jpg", EXAMPLES / "starry_night.jpg", EXAMPLES / "mosaic.jpg"
    if name == "default":
        # 192 px: the least size with two scales (136 and 192 px).
        return _last(photo, starry, steps=12, size=192, seed=3, **FP32)
    if name == "masks":
        with Image.open(photo) as img:
            size = img.size
        return _last(
            photo,
            [starry, mosaic],
            masks=[_columns(size, True), _columns(size, False)],
            steps=10,
            size=96,
            seed=5,
            **FP32,
        )
    if name == "keep_faces":
        return _last(EXAMPLES / "astronaut.jpg", starry, steps=10, size=128, keep_faces=True, seed=7, **FP32)
    if name == "time_limit":
        nst.remember_cost("cpu", "fp32", _slow_cost())
        return _last(photo, starry, steps=14, size=192, time_limit=130, seed=11, **FP32)
    if name == "tiled":  # the smallest size that 0.05 GB (max_memory's least) tiles
        return _last(photo, mosaic, steps=3, size=160, max_memory=0.05, multiscale=False, seed=13, **FP32)
    raise ValueError(name)


RECIPES = ["default", "masks", "keep_faces", "time_limit", "tiled"]


def _machine() -> dict[str, object]:
    return {
        "machine": platform.machine(),
        "processor": platform.processor(),
        "torch": torch.__version__,
        "capability": torch.backends.cpu.get_cpu_capability(),
    }


@pytest.mark.parametrize("name", RECIPES)
def test_a_fixed_recipe_gives_the_recorded_pixels(name):
    threads = torch.get_num_threads()
    torch.set_num_threads(1)  # sums split over threads round differently: one, under xdist or not
    try:
        last = _run(name)
    finally:
        torch.set_num_threads(threads)
    out = last.image
    got = np.asarray(out.convert("RGB"))
    ref_path, meta_path = DATA / f"{name}.png", DATA / f"{name}.json"
    if RECORD:
        DATA.mkdir(parents=True, exist_ok=True)
        out.convert("RGB").save(ref_path)
        meta_path.write_text(
            json.dumps({**_machine(), "steps": last.step, "recipe": json.loads(out.info["nst-recipe"])}, indent=1)
            + "\n"
        )
        pytest.skip("recorded")
    with Image.open(ref_path) as img:
        ref = np.asarray(img.convert("RGB"))
    meta = json.loads(meta_path.read_text())
    assert got.shape == ref.shape
    recipe = json.loads(out.info["nst-recipe"])
    assert last.step == meta["steps"]
    assert {**recipe, "nst": None} == {**meta["recipe"], "nst": None}
    diff = np.abs(got.astype(int) - ref.astype(int))
    if {k: meta[k] for k in _machine()} == _machine():
        assert diff.max() == 0, f"{name}: {int((diff > 0).sum())} values differ, by up to {diff.max()}"
    else:
        # Another CPU or thread count: rounding differs, and a few steps of L-BFGS carry it.
        assert diff.mean() < 1.0 and np.percentile(diff, 99) <= 8, f"{name}: mean {diff.mean():.2f}"
