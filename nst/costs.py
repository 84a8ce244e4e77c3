"""What a run's parts cost on this machine: the one table of cost models, per device and precision.

This module owns the table. A cost model (:class:`~nst.costmodel.CostModel`) comes, in
this order, from this process's table (a calibration or a finished run put it there),
from the machine's cache file (:mod:`nst.calibration_cache`, written by
:func:`nst.calibrate`), or from a prior that a timed convolution gives
(:func:`nst.device.seconds_per_megapixel_step`). Front ends read it here to estimate; a
finished run hands its own timings to :func:`learn`, and a calibration its measurement
to :func:`remember_cost` and the cache.
"""

from __future__ import annotations

from pathlib import Path
from typing import cast

import torch

from . import calibration_cache
from .costmodel import CostModel
from .device import autocast_dtype, dtype_name, resolve_device, seconds_per_megapixel_step

__all__ = [
    "cache_path",
    "cost_model",
    "current_cost",
    "is_calibrated",
    "is_measured",
    "known_cost",
    "learn",
    "precision_name",
    "remember_cost",
]

# Measured cost models, per (device type, autocast dtype name): a calibration's or a finished run's.
_MEASURED: dict[tuple[str, str], CostModel] = {}

# A scale's time (its targets and first pass) is fitted only from runs whose largest scale
# has at least this many times the pixels of its smallest: closer scales leave the line's
# slope to noise.
_FIT_SPREAD = 1.5

# How far one run may move a measured model's coefficient (either way). A run's times are
# of its own sizes, often small (a short limit's coarse scales), where fixed costs and any
# hiccup (a page fault, another program's moment) weigh most: a line through them can be
# off tenfold at 512 px. A machine that really changed gets there over a few runs.
LEARN_BOUND = 1.5


def remember_cost(device: str, dtype: str, model: CostModel) -> None:
    """Keep a measured cost model for this process (:func:`cost_model` returns it).

    Args:
        device: ``"cpu"``, ``"cuda"`` or ``"mps"``.
        dtype: ``"fp32"`` or ``"bf16"``.
        model: the costs measured.
    """
    _MEASURED[(device, dtype)] = model


def cost_model(device: str, dtype: str, prior_rate: float) -> CostModel:
    """The measured cost model for ``device`` in ``dtype``, else a prior from ``prior_rate``.

    Args:
        device: ``"cpu"``, ``"cuda"`` or ``"mps"``.
        dtype: ``"fp32"`` or ``"bf16"``.
        prior_rate: seconds per megapixel-step expected without a measurement
            (:func:`nst.device.seconds_per_megapixel_step`).
    """
    if (device, dtype) in _MEASURED:
        return _MEASURED[(device, dtype)]
    # A scale's targets are about one forward pass of two images: about one step's work.
    fixed = 0.01 if device == "cpu" else 0.005
    return CostModel(step=(fixed, prior_rate), scale=(0.05, prior_rate))


def _device(device: torch.device | str) -> torch.device:
    return resolve_device(device) if isinstance(device, str) else device


def precision_name(precision: str, device: torch.device | str = "auto") -> str:
    """The precision a run of ``precision`` computes in on ``device``: ``"fp32"`` or ``"bf16"``.

    Args:
        precision: a :class:`~nst.Settings` precision (``"auto"``, ``"fp32"``, ``"bf16"``).
        device: where the run computes.
    """
    return dtype_name(autocast_dtype(precision, _device(device)))


def known_cost(device: torch.device, dtype: str, *, cached: bool = True) -> CostModel | None:
    """This process's measured cost model for ``device`` in ``dtype``, else the machine's
    cached one (remembered for the process), else None; ``cached`` False: None.

    Args:
        device: where runs compute.
        dtype: ``"fp32"`` or ``"bf16"``.
        cached: whether a model measured before may be taken (False: time afresh).
    """
    if not cached:
        return None
    key = (device.type, dtype)
    if key in _MEASURED:
        return _MEASURED[key]
    stored = calibration_cache.load(device, dtype)
    if stored is not None:
        remember_cost(*key, stored)
    return stored


def current_cost(device: torch.device | str = "auto", precision: str = "auto") -> CostModel:
    """This process's cost model for ``device`` and ``precision``, else this machine's
    cached one, else the prior from a timed convolution (never a whole run's timing).

    Args:
        device: where runs compute.
        precision: a :class:`~nst.Settings` precision.
    """
    dev = _device(device)
    amp = autocast_dtype(precision, dev)
    known = known_cost(dev, dtype_name(amp))
    return known if known is not None else cost_model(dev.type, dtype_name(amp), seconds_per_megapixel_step(dev, amp))


def is_measured(device_type: str, precision: str) -> bool:
    """Whether this process holds a measured cost model.

    Args:
        device_type: ``"cpu"``, ``"cuda"`` or ``"mps"``.
        precision: ``"fp32"`` or ``"bf16"``.
    """
    return (device_type, precision) in _MEASURED


def is_calibrated(device: torch.device | str = "auto", precision: str = "auto") -> bool:
    """Whether this machine's cache holds a calibration for ``device`` and ``precision``.

    Args:
        device: where runs compute.
        precision: a :class:`~nst.Settings` precision.
    """
    dev = _device(device)
    return calibration_cache.load(dev, precision_name(precision, dev)) is not None


def cache_path() -> Path:
    """The file that keeps this machine's calibration (``NST_CACHE_DIR`` moves it)."""
    return calibration_cache.cache_path()


def measured(device: torch.device, dtype: str, model: CostModel) -> None:
    """A calibration's measurement: remembered for this process and kept in the machine's cache.

    Args:
        device: where it was timed.
        dtype: ``"fp32"`` or ``"bf16"``.
        model: the costs timed.
    """
    remember_cost(device.type, dtype, model)
    calibration_cache.store(device, dtype, model)


def learn(
    device: torch.device,
    dtype: str,
    old: CostModel,
    timings: dict[int, tuple[float, float, list[float]]],
    finish: float,
    *,
    keep: bool = True,
) -> None:
    """Refine the process's cost model from a finished run's own timings.

    Every run measures its steps anyway: with two scales or more they give both parts of
    a step (fixed and per pixel) and of a scale's extra; one scale rescales the model.
    The next estimate (the app's, above all) then follows the machine as it is now.

    Args:
        device: where the run computed.
        dtype: its precision, ``"fp32"`` or ``"bf16"``.
        old: the cost model the run planned with.
        timings: per scale: its megapixels, its targets' seconds, each step's seconds.
        finish: the seconds the result took.
        keep: whether the timings may stand for the machine (taken with the CPU to itself,
            :mod:`nst.contention`): then the machine's cache keeps them too; otherwise they
            hold for this process only.
    """
    rows = []
    for mpx, targets, times in timings.values():
        if len(times) >= 3:
            warm = sorted(times[1:])[len(times[1:]) // 2]
            rows.append((mpx, warm, targets + max(0.0, times[0] - warm)))
    if not rows:
        return
    if len(rows) >= 2 and rows[-1][0] > _FIT_SPREAD * rows[0][0]:
        (m1, s1, o1), (m2, s2, o2) = rows[0], rows[-1]
        step, scale = line(m1, s1, m2, s2), line(m1, o1, m2, o2)
    else:
        mpx, warm, extra = rows[-1]
        k, k2 = warm / old.step_seconds(mpx), extra / max(old.scale_seconds(mpx), 1e-9)
        step, scale = (old.step[0] * k, old.step[1] * k), (old.scale[0] * k2, old.scale[1] * k2)
    m_out = rows[-1][0]
    finish_fit = (0.02, max(0.0, finish - 0.02) / m_out)
    if old.measured:  # a prior (a timed convolution) is replaced whole; a measurement moves by steps
        step, scale, finish_fit = _bounded(step, old.step), _bounded(scale, old.scale), _bounded(finish_fit, old.finish)
    model = CostModel(step=step, scale=scale, finish=finish_fit, setup=old.setup, measured=True)
    # Into the machine's cache too when the run had the CPU: a calibration taken at a busy
    # moment would otherwise mislead every later dry run until measured again.
    if keep:
        measured(device, dtype, model)
    else:
        remember_cost(device.type, dtype, model)


def _bounded(new: tuple[float, float], old: tuple[float, float]) -> tuple[float, float]:
    """``new``'s coefficients, each within :data:`LEARN_BOUND` times ``old``'s (where that is > 0)."""
    return cast(
        tuple[float, float],
        tuple(min(max(n, o / LEARN_BOUND), o * LEARN_BOUND) if o > 0 else n for n, o in zip(new, old, strict=True)),
    )


def line(x1: float, y1: float, x2: float, y2: float) -> tuple[float, float]:
    """(intercept, slope) through two points, both ≥ 0 (noise can tilt a line below 0).

    Args:
        x1, y1, x2, y2: the two points, ``x1 < x2``.
    """
    slope = (y2 - y1) / (x2 - x1)
    if slope <= 0:
        return 0.0, y2 / x2
    intercept = y1 - slope * x1
    if intercept < 0:
        return 0.0, y2 / x2
    return intercept, slope
