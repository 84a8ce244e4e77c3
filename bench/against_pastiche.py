"""Benchmark nst against pastiche on the shared image pairs, in one run.

    python -m bench.against_pastiche            # tubingen × starry_night at 512 px
    python -m bench.against_pastiche --pairs tubingen:starry_night hoovertowernight:shipwreck

Both tools run as subprocesses, so wall time includes their start-up and peak RSS is
their own. Quality is the reference quality of bench/quality.py (``Judge``) at the
output's size: a content distance (0 = the photo, 1 = no closer than the style) and a
style distance (0 = the painting's Gram statistics, 1 = the photo's).

nst runs with its defaults (steps capped at 1000) and a time limit of a quarter of pastiche's wall time (less
its own start-up), then pastiche runs again for the wall time nst took: the side-by-side
image shows the two at equal time. Writes bench/records/pastiche-<machine>.json, the
side-by-side docs/images/<pair>-equal-time.png, and each run's image to bench/scratch/.
"""

from __future__ import annotations

import argparse
import json
import statistics
import subprocess
import sys
import threading
import time
from pathlib import Path

import psutil
import torch
from PIL import Image

import nst

from . import sheets
from .images import ROOT, SCRATCH, in_folder, output_options, resize_to_long_side, shared
from .machine import describe, tag
from .quality import Judge, to_tensor


def run_measured(cmd: list[str]) -> dict:
    """Run ``cmd``; return its wall time and the peak RSS of it and its children."""
    t0 = time.perf_counter()
    proc = psutil.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, cwd=ROOT)
    peak = 0
    done = threading.Event()

    def poll() -> None:
        nonlocal peak
        while not done.is_set():
            try:
                rss = proc.memory_info().rss + sum(c.memory_info().rss for c in proc.children(recursive=True))
                peak = max(peak, rss)
            except psutil.Error:
                pass
            time.sleep(0.05)

    thread = threading.Thread(target=poll, daemon=True)
    thread.start()
    _, err = proc.communicate()
    done.set()
    thread.join()
    if proc.returncode != 0:
        raise RuntimeError(f"{' '.join(cmd)} failed:\n{err.decode()[-2000:]}")
    return {"wall_s": time.perf_counter() - t0, "peak_rss_mb": peak / 2**20}


def flops_per_step(width: int, height: int) -> float:
    """FLOPs of VGG19 up to conv5_1, forward plus backward to the input (about 2× forward)."""
    total, h, w, cin = 0.0, height, width, 3
    for name in nst.LAYER_NAMES:
        if name.startswith("conv"):
            cout = nst.vgg.channels(name)
            total += 2 * h * w * cin * cout * 9
            cin = cout
        elif name.startswith("pool"):
            h, w = h // 2, w // 2
        if name == "conv5_1":
            break
    return 2 * total


def matmul_peak(dtype: torch.dtype) -> float:
    a, b = torch.randn(3072, 4608, dtype=dtype), torch.randn(4608, 512, dtype=dtype)
    a @ b
    best = float("inf")
    for _ in range(5):
        t = time.perf_counter()
        a @ b
        best = min(best, time.perf_counter() - t)
    return 2 * 3072 * 4608 * 512 / best


def step_time(
    content: Path, style: Path, size: int, amp: torch.dtype | None, repeats: int = 7
) -> tuple[float, tuple[int, int]]:
    """Median seconds of one full-size step of nst's own objective (forward to relu5_1,
    the content and Gram costs, backward to the pixels), and the image's (width, height)."""
    from nst.objective import Objective

    s = nst.Settings(size=size)
    c = to_tensor(resize_to_long_side(nst.load_image(content), size))
    st = to_tensor(nst.resize_to_pixels(nst.load_image(style), c.shape[-1] * c.shape[-2]))
    objective = Objective(nst.load_model().truncated("relu5_1"), s, c, [st], [1.0], amp, torch.Generator())
    x = c.clone().requires_grad_(True)
    times = []
    for _ in range(repeats + 1):
        x.grad = None
        t = time.perf_counter()
        objective(x)[0].backward()
        times.append(time.perf_counter() - t)
    return statistics.median(times[1:]), (c.shape[-1], c.shape[-2])


def bench_pair(content: str, style: str, size: int, pastiche_steps: int, out_dir: Path, pictures: Path) -> dict:
    c, s = shared(content), shared(style)
    name = f"{content}-{style}"
    judge = Judge(c, s, size)
    py = sys.executable
    res: dict = {"pair": name, "size": size}

    p_out = out_dir / f"{name}-pastiche.png"
    p_cmd = [
        py,
        "-m",
        "pastiche",
        "--content",
        str(c),
        "--styles",
        str(s),
        "--output",
        str(p_out),
        "--size",
        str(size),
        "--num-steps",
        str(pastiche_steps),
        "--no-verbose",
        "--seed",
        "0",
    ]
    res["pastiche"] = {**run_measured(p_cmd), "steps": pastiche_steps, **judge(p_out)}
    print(f"pastiche {pastiche_steps} steps: {res['pastiche']}", flush=True)

    startup = run_measured([py, "-c", "import nst, torch; nst.load_model()"])["wall_s"]
    budget = 0.25 * res["pastiche"]["wall_s"] - startup
    n_out = out_dir / f"{name}-nst.png"
    # Steps are only a cap here: the time limit decides how many fit.
    n_cmd = [
        py,
        "-m",
        "nst",
        str(c),
        str(s),
        "-o",
        str(n_out),
        "--size",
        str(size),
        "--steps",
        "1000",
        "--time-limit",
        f"{budget:.1f}",
    ]
    res["nst"] = {**run_measured(n_cmd), "time_limit_s": budget, **judge(n_out)}
    print(f"nst (time limit {budget:.1f} s): {res['nst']}", flush=True)

    # pastiche again, for as long as nst took.
    eq_steps = max(1, round(pastiche_steps * res["nst"]["wall_s"] / res["pastiche"]["wall_s"]))
    pe_out = out_dir / f"{name}-pastiche-equal-time.png"
    pe_cmd = p_cmd[:]
    pe_cmd[pe_cmd.index("--num-steps") + 1] = str(eq_steps)
    pe_cmd[pe_cmd.index("--output") + 1] = str(pe_out)
    res["pastiche_equal_time"] = {**run_measured(pe_cmd), "steps": eq_steps, **judge(pe_out)}
    print(f"pastiche {eq_steps} steps: {res['pastiche_equal_time']}", flush=True)
    a, b = Image.open(n_out).convert("RGB"), Image.open(pe_out).convert("RGB")
    labels = (
        f"nst, {res['nst']['wall_s']:.0f} s",
        f"pastiche, {res['pastiche_equal_time']['wall_s']:.0f} s ({eq_steps} steps)",
    )
    sheets.row([a, b.resize(a.size)], labels).save(in_folder(pictures, f"{name}-equal-time.png"))
    return res


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--pairs", nargs="+", default=["tubingen:starry_night"])
    parser.add_argument("--size", type=int, default=512)
    parser.add_argument("--pastiche-steps", type=int, default=100)
    parser.add_argument(
        "--out", type=Path, default=SCRATCH / "pastiche", help="each run's image (default: bench/scratch/pastiche)"
    )
    output_options(parser)
    args = parser.parse_args()
    args.out.mkdir(parents=True, exist_ok=True)

    amp = nst.device.autocast_dtype("auto", torch.device("cpu"))
    peaks = {"fp32": matmul_peak(torch.float32), "bf16": matmul_peak(torch.bfloat16)}
    first = args.pairs[0].split(":")
    t_step, (w, h) = step_time(shared(first[0]), shared(first[1]), args.size, amp)
    flops = flops_per_step(w, h)
    used = "bf16" if amp is not None else "fp32"
    compute = {
        "size": [w, h],
        "gflop_per_step": flops / 1e9,
        "precision_used": used,
        "seconds_per_step": t_step,
        "matmul_gflops": {k: v / 1e9 for k, v in peaks.items()},
        "compute_limit_ratio": {k: t_step / (flops / v) for k, v in peaks.items()},
    }
    print(json.dumps({"compute": compute}, indent=1), flush=True)

    results = {"machine": describe(), "compute": compute, "pairs": []}
    for pair in args.pairs:
        content, style = pair.split(":")
        results["pairs"].append(bench_pair(content, style, args.size, args.pastiche_steps, args.out, args.pictures))
    for r in results["pairs"]:
        p, n = r["pastiche"], r["nst"]
        r["targets"] = {
            "quality_at_least_pastiche": n["quality"] <= p["quality"],
            "time_at_most_25pct": n["wall_s"] <= 0.25 * p["wall_s"],
            "peak_rss_below_1GB": n["peak_rss_mb"] <= 1024,
        }
    in_folder(args.records, f"pastiche-{tag()}.json").write_text(json.dumps(results, indent=1))
    print(json.dumps(results, indent=1))


if __name__ == "__main__":
    main()
