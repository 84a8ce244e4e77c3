"""One command for the day a GPU is at hand: what nst does on it, and how fast.

    python -m bench.gpu_check [--device cuda] [--sizes 512 1024 2048] [--json bench/records/gpu-check.json]

Reports the GPU (name, compute capability, memory), the precision nst chooses there
(``precision="auto"``: bf16 from compute capability 8.0, else fp32), then for each size one
timed step (after a warm-up step at that size: cuDNN picks its kernels on the first), the
steps per second, the peak GPU memory of the run, and the time of a default run (200 steps
at 512 px, coarse to fine) from the start of the call to the result. The README's GPU
targets: 512 px × 300 steps ≤ 2 s on an H100, a 2048 px result ≤ 60 s, peak memory ≤ 3 GB
at 1024 px.

Without a GPU it says so, and runs the same measures on the CPU at 128 and 256 px (a check
that the script works, not GPU figures).
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

import torch

import nst
from nst.device import autocast_dtype, dtype_name

from .images import EXAMPLES

CONTENT, STYLE = EXAMPLES / "chelsea.jpg", EXAMPLES / "starry_night.jpg"


def _sync(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def _peak_reset(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.empty_cache()
        torch.cuda.reset_peak_memory_stats(device)


def _peak_gb(device: torch.device) -> float | None:
    return torch.cuda.max_memory_allocated(device) / 2**30 if device.type == "cuda" else None


def one_step(device: torch.device, size: int, steps: int = 3) -> dict:
    """Seconds of one warm step at ``size`` (single scale), and the run's peak memory."""
    _peak_reset(device)
    times = []
    for ev in nst.stylize(
        CONTENT, STYLE, steps=steps, size=size, multiscale=False, preview_every=0, device=str(device)
    ):
        _sync(device)
        times.append(ev.elapsed)
    step = min(b - a for a, b in zip(times[:-2], times[1:-1]))  # warm steps, the finish left out
    return {
        "size": size,
        "pixels": list(ev.image.size),
        "step_s": round(step, 4),
        "steps_per_s": round(1 / step, 2),
        "peak_gb": None if _peak_gb(device) is None else round(_peak_gb(device), 2),
    }


def default_run(device: torch.device, size: int, steps: int) -> dict:
    _peak_reset(device)
    t = time.perf_counter()
    image = nst.stylize_image(CONTENT, STYLE, steps=steps, size=size, device=str(device))
    _sync(device)
    return {
        "size": size,
        "steps": steps,
        "seconds": round(time.perf_counter() - t, 2),
        "pixels": list(image.size),
        "peak_gb": None if _peak_gb(device) is None else round(_peak_gb(device), 2),
    }


def main(argv: list[str] | None = None) -> dict:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--device", default="auto")
    p.add_argument("--sizes", type=int, nargs="+", default=None, help="default: 512 1024 2048 (GPU), 128 256 (CPU)")
    p.add_argument(
        "--default-run", default=None, help="SIZE:STEPS of the whole run timed (default 512:200; CPU 128:20)"
    )
    p.add_argument("--json", type=Path, default=None, help="also write the figures here")
    args = p.parse_args(argv)
    device = nst.resolve_device(args.device)
    gpu = device.type == "cuda"
    report: dict = {"torch": torch.__version__, "device": device.type}
    if gpu:
        props = torch.cuda.get_device_properties(device)
        report["gpu"] = {
            "name": props.name,
            "capability": f"{props.major}.{props.minor}",
            "memory_gb": round(props.total_memory / 2**30, 1),
            "is_bf16_supported": torch.cuda.is_bf16_supported(),
        }
        print(
            f"GPU: {props.name}, compute capability {props.major}.{props.minor}, "
            f"{props.total_memory / 2**30:.0f} GB; torch {torch.__version__}"
        )
    else:
        print(
            f"No GPU found (torch {torch.__version__}, CUDA available: {torch.cuda.is_available()}): "
            f"measuring on the {device.type} at small sizes, to check this script only."
        )
    report["precision"] = dtype_name(autocast_dtype("auto", device))
    print(f"precision chosen (auto): {report['precision']}")
    sizes = args.sizes or ([512, 1024, 2048] if gpu else [128, 256])
    report["steps"] = []
    for size in sizes:
        try:
            row = one_step(device, size)
        except nst.OutOfMemoryError as exc:
            row = {"size": size, "error": str(exc)}
        report["steps"].append(row)
        print(json.dumps(row))
    size, steps = (int(x) for x in (args.default_run or ("512:200" if gpu else "128:20")).split(":"))
    report["default_run"] = default_run(device, size, steps)
    print(f"default run: {json.dumps(report['default_run'])}")
    if args.json:
        args.json.write_text(json.dumps(report, indent=1) + "\n")
    return report


if __name__ == "__main__":
    main()
