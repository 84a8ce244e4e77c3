"""The cost model of this machine, measured from whole steps of the real pipeline.

`calibrate` times two short runs once per machine (kept in :mod:`nst.calibration_cache`);
`learn` refines the model from every finished run's own step times, so the estimates
follow the machine as it is now (a busy one, a GPU warmed up).
"""

from __future__ import annotations

import threading
import time
from typing import Any

import torch

from . import calibration_cache, cpu, schedule
from . import images as im
from .device import autocast_dtype, dtype_name, resolve_device
from .schedule import CostModel, remember_cost
from .settings import DEFAULT
from .weights import load_model

__all__ = ["CALIBRATION_SIZES", "CALIBRATION_STEPS", "calibrate", "learn"]

# The sizes (long side, px) whose whole steps calibrate the cost model, and the steps
# timed at each: two sizes give the fixed and the per-pixel part of a step.
CALIBRATION_SIZES = (160, 256)
CALIBRATION_STEPS = 5
_calibrate_lock = threading.Lock()


def calibrate(device: torch.device | str = "auto", precision: str = "auto", *, cached: bool = True) -> CostModel:
    """Time whole steps of a real run on ``device`` (once per machine), for the estimates.

    Two short single-scale runs (at :data:`CALIBRATION_SIZES`) of the real pipeline
    give each part of :class:`~nst.schedule.CostModel`: a step's fixed and per-pixel
    seconds (the median of its warm steps), a scale's extra (targets and the first pass
    at a new shape: the first event's time less a warm step) and the finish. Runs that
    follow in this process then use it (see :func:`nst.schedule.cost_model`), and it is
    kept in this machine's cache file (:mod:`nst.calibration_cache`), so that later
    processes start with it: a dry run or a first estimate then takes no timing at all.
    Processes that calibrate at once time the machine once: the others wait for the
    first one's entry (:func:`nst.calibration_cache.machine_lock`), unless it makes no
    progress (a stopped process): then they time for themselves after a few seconds
    (:data:`~nst.calibration_cache.LOCK_STALL`), with a warning, and keep it in the process only.

    Args:
        device: where runs compute.
        precision: the network precision, as :class:`~nst.Settings` has it.
        cached: take the cached costs when there are some; False times afresh (and
            replaces them).
    """
    dev = resolve_device(device) if isinstance(device, str) else device
    amp = autocast_dtype(precision, dev)
    key = (dev.type, dtype_name(amp))
    with _calibrate_lock:
        if cached and key in schedule._MEASURED:  # the table as it is now (it can be replaced)
            return schedule._MEASURED[key]
        # Kept costs need no lock (the file is replaced whole): a process that holds it,
        # re-timing the machine or stopped, does not hold up a start that finds them.
        stored = calibration_cache.load(dev, key[1]) if cached else None
        if stored is None:
            with calibration_cache.machine_lock(" ".join(key)):
                # Under the lock: another process may have been timing this entry; its costs then come from
                # the file. Where it holds the lock still (it is stopped), this one times for itself, and the
                # cache does not keep that (calibration_cache.store skips the entry meanwhile).
                stored = calibration_cache.load(dev, key[1]) if cached else None
                if stored is None:
                    return _time_steps(dev, precision, key)
        remember_cost(*key, stored)
        return stored


def _time_steps(dev: torch.device, precision: str, key: tuple[str, str]) -> CostModel:
    """:func:`calibrate`'s timing: the model measured, remembered and stored."""
    t = time.perf_counter()
    load_model(DEFAULT.weights, DEFAULT.pooling, str(dev))
    setup = time.perf_counter() - t
    gen = torch.Generator().manual_seed(0)
    # A smooth random picture: texture at several scales, like a photo.
    small = torch.rand(1, 3, 12, 16, generator=gen)
    picture = im.to_pil(torch.nn.functional.interpolate(small, size=(480, 640), mode="bicubic").clamp(0, 1))
    rows = []
    from .pipeline import stylize  # the real pipeline's steps (it imports this module)

    for size in CALIBRATION_SIZES:
        events = list(stylize(picture, picture, steps=CALIBRATION_STEPS, size=size, multiscale=False,
                              preview_every=0, device=str(dev), precision=precision))
        times = [e.elapsed for e in events]
        warm = sorted(b - a for a, b in zip(times[:-2], times[1:-1]))
        step = warm[len(warm) // 2]
        mpx = events[-1].image.width * events[-1].image.height / 1e6
        rows.append((mpx, step, max(0.0, times[0] - step), max(0.0, times[-1] - times[-2] - step)))
    (m1, s1, o1, _), (m2, s2, o2, f2) = rows
    step_fit = _line(m1, s1, m2, s2)
    scale_fit = _line(m1, o1, m2, o2)
    model = CostModel(step=step_fit, scale=scale_fit, finish=(0.02, f2 / m2), setup=setup, measured=True)
    remember_cost(*key, model)
    calibration_cache.store(dev, key[1], model)
    cpu.release_threads()  # runs may come on other threads (an app's)
    return model


def learn(device: torch.device, engine: Any, timings: dict[int, tuple[float, float, list[float]]],
          finish: float) -> None:
    """Refine the process's cost model from a finished run's own timings.

    Every run measures its steps anyway: with two scales or more they give both parts of
    a step (fixed and per pixel) and of a scale's extra; one scale rescales the model.
    The next estimate (the app's, above all) then follows the machine as it is now.

    Args:
        device: where the run computed.
        engine: the run's engine (its ``cost`` and ``amp``).
        timings: per scale: its megapixels, its targets' seconds, each step's seconds.
        finish: the seconds the result took.
    """
    rows = []
    for mpx, targets, times in timings.values():
        if len(times) >= 3:
            warm = sorted(times[1:])[len(times[1:]) // 2]
            rows.append((mpx, warm, targets + max(0.0, times[0] - warm)))
    if not rows:
        return
    old = engine.cost
    if len(rows) >= 2 and rows[-1][0] > 1.5 * rows[0][0]:
        (m1, s1, o1), (m2, s2, o2) = rows[0], rows[-1]
        step, scale = _line(m1, s1, m2, s2), _line(m1, o1, m2, o2)
    else:
        mpx, warm, extra = rows[-1]
        k, k2 = warm / old.step_seconds(mpx), extra / max(old.scale_seconds(mpx), 1e-9)
        step, scale = (old.step[0] * k, old.step[1] * k), (old.scale[0] * k2, old.scale[1] * k2)
    m_out = rows[-1][0]
    finish_fit = (0.02, max(0.0, finish - 0.02) / m_out)
    model = CostModel(step=step, scale=scale, finish=finish_fit, setup=old.setup, measured=True)
    remember_cost(device.type, dtype_name(engine.amp), model)
    # And this machine's cache: a calibration taken at a busy moment would otherwise mislead
    # every later dry run (a 94 s run was estimated at 604 s) until measured again.
    calibration_cache.store(device, dtype_name(engine.amp), model)


def _line(x1: float, y1: float, x2: float, y2: float) -> tuple[float, float]:
    """(intercept, slope) through two points, both ≥ 0 (noise can tilt a line below 0)."""
    slope = (y2 - y1) / (x2 - x1)
    if slope <= 0:
        return 0.0, y2 / x2
    intercept = y1 - slope * x1
    if intercept < 0:
        return 0.0, y2 / x2
    return intercept, slope
