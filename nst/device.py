"""The machine a run uses: its device, its network precision, its size limit, and a first
guess of how fast it steps.

The CPU's speed is probed once per process with one VGG-sized convolution (0.2 s per
precision on a 2-core CPU): that decides whether bf16 pays on a CPU without AMX (once per
machine) and gives a prior rate. Estimates that must hold come from whole steps
instead (:func:`nst.pipeline.calibrate`, kept in :mod:`nst.schedule`).
"""

from __future__ import annotations

import functools
import time

import torch

from .contention import CpuShare
from .cpu import release_threads
from .settings import LIMITS, SettingsError

__all__ = [
    "resolve_device",
    "autocast_dtype",
    "cuda_native_bf16",
    "dtype_name",
    "max_size",
    "size_cap_message",
    "seconds_per_megapixel_step",
]

# VGG19 to conv5_1, forward plus backward to the input, per megapixel of image.
GFLOP_PER_MEGAPIXEL_STEP = 1444.6
# A whole step (the costs, the Gram matrices, ReLU, pooling, L-BFGS) against the probe
# convolution alone, per GFLOP, measured with bench/trials.py timing on a 2-core CPU.
_STEP_OVER_PROBE = {torch.float32: 1.15, torch.bfloat16: 0.9}
# Where no probe runs, seconds per megapixel-step. Not measured (no GPU was available):
# CUDA assumes ~120 TFLOP/s effective in bf16 (an H100-class GPU); MPS is a guess.
_SECONDS_PER_MEGAPIXEL_STEP = {"cuda": 0.012, "mps": 0.5}


def resolve_device(name: str = "auto") -> torch.device:
    """``auto`` picks CUDA, then MPS, then the CPU; other names are checked to exist."""
    if name == "auto":
        if torch.cuda.is_available():
            return torch.device("cuda")
        mps = getattr(torch.backends, "mps", None)
        if mps is not None and mps.is_available():
            return torch.device("mps")
        return torch.device("cpu")
    try:
        device = torch.device(name)
    except (RuntimeError, TypeError):
        raise SettingsError(f"unknown device {name!r}; use auto, cpu, cuda, cuda:N or mps") from None
    if device.type == "cuda" and not torch.cuda.is_available():
        raise SettingsError("device cuda was asked for, but no CUDA GPU is available")
    if device.type == "cuda" and device.index is not None and device.index >= torch.cuda.device_count():
        raise SettingsError(f"device {name} does not exist; this machine has {torch.cuda.device_count()} GPU(s)")
    if device.type == "mps" and not (getattr(torch.backends, "mps", None) and torch.backends.mps.is_available()):
        raise SettingsError("device mps was asked for, but MPS is not available")
    if device.type not in ("cpu", "cuda", "mps"):
        raise SettingsError(f"unsupported device {name!r}; use auto, cpu, cuda or mps")
    return device


def max_size(device: torch.device | str) -> int:
    """The app's largest output size (long side, px) on ``device``: what a visitor waits for
    (CPUs are slow). The API and the CLI take up to ``LIMITS.max_size`` on any device."""
    kind = device if isinstance(device, str) else device.type
    return LIMITS.max_size_cpu if kind == "cpu" else LIMITS.max_size_gpu


def size_cap_message(size: int, device: torch.device | str) -> str:
    """What a front end capped by :func:`max_size` says of a ``size`` above its cap."""
    kind = device if isinstance(device, str) else device.type
    return (
        f"size {size} is above this app's limit of {max_size(kind)} px on its {'CPU' if kind == 'cpu' else 'GPU'} "
        f"(a visitor's wait); the command line and the Python API make up to {LIMITS.max_size} px"
    )


def dtype_name(amp: torch.dtype | None) -> str:
    """``"bf16"`` or ``"fp32"``: the network precision of a run, as recipes record it."""
    return "bf16" if amp == torch.bfloat16 else "fp32"


@functools.cache
def _cpu_seconds_per_gflop(dtype: torch.dtype | None) -> float:
    """Seconds per GFLOP of a 128-channel 3×3 convolution at 96×128 (as relu3 sees at
    512 px), forward and backward to its input, channels-last, as the network runs."""
    conv = torch.nn.Conv2d(128, 128, 3, padding=1).requires_grad_(False).to(memory_format=torch.channels_last)  # type: ignore[call-overload]  # Module.to takes it; its stub omits it
    x = torch.rand(1, 128, 96, 128).contiguous(memory_format=torch.channels_last).requires_grad_(True)
    gflop = 2 * 2 * 96 * 128 * 128 * 128 * 9 / 1e9

    def timed() -> float:
        t = time.perf_counter()
        with torch.autocast("cpu", dtype=dtype or torch.float32, enabled=dtype is not None):
            y = conv(x)
        y.float().sum().backward()
        return time.perf_counter() - t

    timed(), timed()  # warm-up: oneDNN builds its kernels on first use
    best = min(timed() for _ in range(3))
    release_threads()  # the probe may run on any thread (a web handler's)
    return best / gflop


def autocast_dtype(precision: str, device: torch.device) -> torch.dtype | None:
    """The autocast dtype for the network (None: plain fp32). Losses always stay fp32.

    ``auto`` takes bf16 on CUDA GPUs that compute it natively (compute capability 8.0 and
    up: Ampere, Hopper, ...; below it ``torch.cuda.is_bf16_supported()`` may say True, by
    emulation, and cuDNN has no bf16 convolutions), and on CPUs where it pays
    (:func:`_cpu_bf16_pays`).
    """
    if precision == "fp32":
        return None
    if precision == "bf16":
        return torch.bfloat16
    if device.type == "cuda":
        return torch.bfloat16 if cuda_native_bf16(device) else None
    if device.type == "cpu":
        return torch.bfloat16 if _cpu_bf16_pays() else None
    return None


def cuda_native_bf16(device: torch.device | str = "cuda") -> bool:
    """Whether the CUDA GPU computes bf16 natively: compute capability 8.0 or more. Asked in
    the process that runs (on ZeroGPU the worker, where the real GPU is)."""
    major, _ = torch.cuda.get_device_capability(device)
    return major >= 8


@functools.cache
def _amx() -> bool:
    """Whether the CPU has AMX tiles for bf16 (Linux's CPU flags)."""
    try:
        with open("/proc/cpuinfo") as f:
            flags = next((line.split(":", 1)[1].split() for line in f if line.startswith("flags")), [])
    except OSError:
        return False
    return "amx_bf16" in flags


@functools.cache
def _cpu_bf16_pays() -> bool:
    """Whether the network runs faster in bf16 than in fp32 on this CPU.

    With AMX it does (~1.7×), decided by the flags. Without AMX the flags do not tell:
    an AMD EPYC with AVX512-BF16 ran a step 1.85× faster in bf16, an Intel Xeon with
    AVX512-BF16 but no AMX 1.5× slower, and CPUs without either ~4× slower (oneDNN
    emulates it). There the convolution probe decides (bf16 when at least 1.25× faster),
    once per machine: the answer is kept in the calibration cache, so a busy moment cannot
    make two processes (a dry run and its run, say) run in different precisions. A probe
    that did not have the CPU to itself (:mod:`nst.contention`) decides for its process only.
    """
    if _amx():
        return True
    from . import calibration_cache

    cpu = torch.device("cpu")
    with calibration_cache.machine_lock("cpu precision"):  # another process may be probing: take its answer
        kept = calibration_cache.load_choice(cpu, "precision")
        if kept in ("bf16", "fp32"):
            return kept == "bf16"
        share = CpuShare()
        pays = _cpu_seconds_per_gflop(torch.bfloat16) < 0.8 * _cpu_seconds_per_gflop(None)
        if share.had_the_cpu():  # at a busy moment either precision can lose: decide for this process only
            calibration_cache.store_choice(cpu, "precision", "bf16" if pays else "fp32")
    return pays


def seconds_per_megapixel_step(device: torch.device, amp: torch.dtype | None) -> float:
    """A prior of the seconds of one step per megapixel of image, on ``device`` in ``amp``.

    From the convolution probe on the CPU (once per process); a constant for GPUs. Used
    until whole steps have been timed (:func:`nst.pipeline.calibrate`).
    """
    if device.type == "cpu":
        factor = _STEP_OVER_PROBE.get(amp or torch.float32, 1.0)
        return _cpu_seconds_per_gflop(amp) * GFLOP_PER_MEGAPIXEL_STEP * factor
    return _SECONDS_PER_MEGAPIXEL_STEP.get(device.type, 0.5)
