"""The cost model of this machine, measured from whole steps of the real run.

:func:`calibrate` times two short runs (:class:`nst.run.Run`) once per machine, kept in
:mod:`nst.calibration_cache`; the table it fills is :mod:`nst.costs`', which also refines
it from every finished run's own step times (:func:`nst.costs.learn`), so the estimates
follow the machine as it is now (a busy one, a GPU warmed up).
"""

from __future__ import annotations

import threading
import time

import torch
from PIL import Image

from . import calibration_cache, costs, cpu
from . import images as im
from .contention import CpuShare
from .costmodel import CostModel
from .device import autocast_dtype, dtype_name, resolve_device
from .inputs import RunInputs
from .memory import memory_plans
from .run import run_events
from .schedule import plan_run
from .settings import DEFAULT
from .weights import load_model

__all__ = ["CALIBRATION_SIZES", "CALIBRATION_STEPS", "calibrate"]

# The sizes (long side, px) whose whole steps calibrate the cost model, and the steps
# timed at each: two sizes give the fixed and the per-pixel part of a step.
CALIBRATION_SIZES = (160, 256)
CALIBRATION_STEPS = 5
_calibrate_lock = threading.Lock()


def calibrate(device: torch.device | str = "auto", precision: str = "auto", *, cached: bool = True) -> CostModel:
    """Time whole steps of a real run on ``device`` (once per machine), for the estimates.

    Two short single-scale runs (at :data:`CALIBRATION_SIZES`) of the real pipeline
    give each part of :class:`~nst.costmodel.CostModel`: a step's fixed and per-pixel
    seconds (the median of its warm steps), a scale's extra (targets and the first pass
    at a new shape: the first event's time less a warm step) and the finish. Runs that
    follow in this process then use it (see :func:`nst.costs.cost_model`), and it is
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
        known = costs.known_cost(dev, key[1], cached=cached)  # the table, else this machine's cache
        if known is not None:
            return known
        with calibration_cache.machine_lock(" ".join(key)):
            # Under the lock: another process may have been timing this entry; its costs then come from
            # the file. Where it holds the lock still (it is stopped), this one times for itself, and the
            # cache does not keep that (calibration_cache.store skips the entry meanwhile).
            known = costs.known_cost(dev, key[1], cached=cached)
            return known if known is not None else _time_steps(dev, precision, key)


def _time_steps(dev: torch.device, precision: str, key: tuple[str, str]) -> CostModel:
    """:func:`calibrate`'s timing: the model measured, remembered and stored."""
    share = CpuShare()
    t = time.perf_counter()
    load_model(DEFAULT.weights, DEFAULT.pooling, str(dev))
    setup = time.perf_counter() - t
    gen = torch.Generator().manual_seed(0)
    # A smooth random picture: texture at several scales, like a photo.
    small = torch.rand(1, 3, 12, 16, generator=gen)
    picture = im.to_pil(torch.nn.functional.interpolate(small, size=(480, 640), mode="bicubic").clamp(0, 1))
    rows = []
    for size in CALIBRATION_SIZES:
        events = list(run_events(_timing_run(picture, size, dev, precision)))
        times = [e.elapsed for e in events]
        warm = sorted(b - a for a, b in zip(times[:-2], times[1:-1]))
        step = warm[len(warm) // 2]
        last = events[-1].image
        assert last is not None  # the result
        mpx = last.width * last.height / 1e6
        rows.append((mpx, step, max(0.0, times[0] - step), max(0.0, times[-1] - times[-2] - step)))
    (m1, s1, o1, _), (m2, s2, o2, f2) = rows
    step_fit = costs.line(m1, s1, m2, s2)
    scale_fit = costs.line(m1, o1, m2, o2)
    model = CostModel(step=step_fit, scale=scale_fit, finish=(0.02, f2 / m2), setup=setup, measured=True)
    if share.had_the_cpu(dev):
        costs.measured(dev, key[1], model)
    else:  # a busy moment: good for this process's estimates, not for the machine's cache
        costs.remember_cost(dev.type, key[1], model)
    cpu.release_threads()  # runs may come on other threads (an app's)
    return model


def _timing_run(picture: Image.Image, size: int, dev: torch.device, precision: str) -> RunInputs:
    """One timed run: the default settings on ``picture`` (content and style) at ``size``, one
    scale of :data:`CALIBRATION_STEPS` steps, no previews (as :func:`nst.prepare` plans it)."""
    s = DEFAULT.replace(
        steps=CALIBRATION_STEPS,
        size=size,
        multiscale=False,
        preview_every=0,
        device=str(dev),
        precision=precision,
        keep_faces=False,
    )
    plan = plan_run(picture.size, size, s.steps, multiscale=False)
    output = im.resize_to_long_side(picture, size)
    return RunInputs(s, dev, picture, [picture], [1.0], output, plan, memory=memory_plans(plan, s, dev))
