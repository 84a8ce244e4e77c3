"""nst.costs: what a finished run teaches the cost table (learn), bounded so that one run's
small scales cannot move a measured model's estimate at the output size far."""

from __future__ import annotations

import pytest
import torch

from nst import costs
from nst.costmodel import CostModel

MODEL = CostModel(step=(0.02, 3.7), scale=(0.04, 5.7), finish=(0.02, 0.1), setup=1.0, measured=True)


@pytest.fixture
def table(monkeypatch):
    """This process's table alone: nothing kept in the machine's cache."""
    monkeypatch.setattr(costs, "_MEASURED", {})
    monkeypatch.setattr(costs.calibration_cache, "store", lambda *a, **k: None)
    return costs._MEASURED


def _timings(rows):
    """Per scale: its megapixels, its targets' seconds, each step's seconds (the first, then warm)."""
    return {i: (mpx, targets, [first, *[warm] * 4]) for i, (mpx, targets, first, warm) in enumerate(rows)}


def test_a_run_like_the_model_leaves_it_as_it_is(table):
    rows = [(m, MODEL.scale_seconds(m), MODEL.step_seconds(m), MODEL.step_seconds(m)) for m in (0.012, 0.197)]
    costs.learn(torch.device("cpu"), "bf16", MODEL, _timings(rows), 0.04)
    got = table[("cpu", "bf16")]
    assert got.step == pytest.approx(MODEL.step) and got.scale == pytest.approx(MODEL.scale)


def test_a_hiccup_at_a_small_scale_moves_the_model_at_most_the_bound(table):
    """A 128 px run whose targets took 0.5 s more than usual (a profiler, a page fault): unbounded,
    the scale line is rescaled by that ratio, tenfold at 512 px."""
    m = 0.012
    rows = [(m, MODEL.scale_seconds(m) + 0.5, MODEL.step_seconds(m), MODEL.step_seconds(m))]
    costs.learn(torch.device("cpu"), "bf16", MODEL, _timings(rows), 0.04)
    got = table[("cpu", "bf16")]
    big = 0.197
    assert got.scale_seconds(big) == pytest.approx(costs.LEARN_BOUND * MODEL.scale_seconds(big))
    assert got.step_seconds(big) == pytest.approx(MODEL.step_seconds(big))


def test_a_prior_is_replaced_by_the_first_measurement(table):
    prior = CostModel(step=(0.02, 30.0), scale=(0.04, 50.0), finish=(0.02, 0.1), setup=1.0, measured=False)
    rows = [(m, MODEL.scale_seconds(m), MODEL.step_seconds(m), MODEL.step_seconds(m)) for m in (0.012, 0.197)]
    costs.learn(torch.device("cpu"), "bf16", prior, _timings(rows), 0.04)
    assert table[("cpu", "bf16")].step_seconds(0.197) == pytest.approx(MODEL.step_seconds(0.197))
