"""What a run's parts cost on this machine: the one table of cost models, per device and precision.

A cost model (:class:`~nst.schedule.CostModel`) comes, in this order, from this process's
table (a calibration or a finished run put it there), from the machine's cache file
(:mod:`nst.calibration_cache`, written by :func:`nst.calibrate`), or from a prior that a
timed convolution gives (:func:`nst.device.seconds_per_megapixel_step`). Front ends read
it here to estimate; a run hands its own timings to :func:`nst.calibration.learn`.
"""

from __future__ import annotations

from pathlib import Path

import torch

from . import calibration_cache
from .device import autocast_dtype, dtype_name, resolve_device, seconds_per_megapixel_step
from .schedule import _MEASURED, CostModel, cost_model, remember_cost

__all__ = ["cache_path", "current_cost", "is_calibrated", "is_measured", "precision_name", "remember_cost"]


def _device(device: torch.device | str) -> torch.device:
    return resolve_device(device) if isinstance(device, str) else device


def precision_name(precision: str, device: torch.device | str = "auto") -> str:
    """The precision a run of ``precision`` (a :class:`~nst.Settings` value) computes in on
    ``device``: ``"fp32"`` or ``"bf16"``."""
    return dtype_name(autocast_dtype(precision, _device(device)))


def current_cost(device: torch.device | str = "auto", precision: str = "auto") -> CostModel:
    """This process's cost model for ``device`` and ``precision``, else this machine's
    cached one, else the prior from a timed convolution (never a whole run's timing)."""
    dev = _device(device)
    amp = autocast_dtype(precision, dev)
    key = (dev.type, dtype_name(amp))
    if key in _MEASURED:
        return _MEASURED[key]
    cached = calibration_cache.load(dev, key[1])
    if cached is not None:
        remember_cost(*key, cached)
        return cached
    return cost_model(*key, seconds_per_megapixel_step(dev, amp))


def is_measured(device_type: str, precision: str) -> bool:
    """Whether this process holds a measured cost model for ``device_type`` ("cpu", "cuda",
    "mps") in ``precision`` ("fp32", "bf16")."""
    return (device_type, precision) in _MEASURED


def is_calibrated(device: torch.device | str = "auto", precision: str = "auto") -> bool:
    """Whether this machine's cache holds a calibration for ``device`` and ``precision``."""
    dev = _device(device)
    return calibration_cache.load(dev, precision_name(precision, dev)) is not None


def cache_path() -> Path:
    """The file that keeps this machine's calibration (``NST_CACHE_DIR`` moves it)."""
    return calibration_cache.cache_path()
