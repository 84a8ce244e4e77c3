"""Trials of speed-ups and of iterate averaging, kept or dropped on these figures.

    python bench/trials.py step      # one full-size step: eager, channels_last, torch.compile
    python bench/trials.py ema       # iterate averaging (EMA) against the last iterate, same run
    python bench/trials.py timing    # seconds per step against pixels, for nst.schedule's estimate

Each writes bench/results/trials-<name>.json and prints it. ``ema`` runs nst with a time
limit and previews on every step, and averages the previews of the final scale with
several decays as it goes (restarting at each scale, as crowsonkb's style-transfer does),
so the averaged and the plain result come from the very same run and time. Quality is
bench.py's reference measure.
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import time
from pathlib import Path

import numpy as np
import torch
from PIL import Image

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parent))
sys.path.insert(0, str(HERE))

import nst  # noqa: E402
from bench import IMAGES, Judge, flops_per_step, machine  # noqa: E402
from nst.images import resize_to_long_side, to_tensor  # noqa: E402
from nst.pipeline import _Objective  # noqa: E402

OUT = HERE / "results"


def _objective(size: int) -> tuple[_Objective, torch.Tensor]:
    s = nst.Settings(size=size)
    content = to_tensor(resize_to_long_side(nst.load_image(IMAGES / "tubingen.jpg"), size))
    style = to_tensor(resize_to_long_side(nst.load_image(IMAGES / "starry_night.jpg"), size))
    model = nst.load_model().truncated("relu5_1")
    gen = torch.Generator().manual_seed(0)
    return _Objective(model, s, content, [style], [1.0], None, gen), content


def _time_steps(fn, x: torch.Tensor, n: int) -> list[float]:
    times = []
    for _ in range(n):
        x.grad = None
        t = time.perf_counter()
        fn(x).backward()
        times.append(time.perf_counter() - t)
    return times


def trial_step(size: int, repeats: int) -> dict:
    """Median step time of the objective in fp32 and bf16, with the weights in the default
    (NCHW) and in the channels-last format, and under torch.compile with a cold cache."""
    objective, content = _objective(size)
    h, w = content.shape[-2:]
    out: dict = {"size": [w, h], "gflop_per_step": flops_per_step(w, h) / 1e9,
                 "auto_precision": str(nst.pipeline.autocast_dtype("auto", torch.device("cpu")))}
    x = content.clone().requires_grad_(True)
    step = lambda im: objective(im)[0]  # noqa: E731
    for precision, amp in (("fp32", None), ("bf16", torch.bfloat16)):
        objective.autocast = amp
        for layout in (torch.contiguous_format, torch.channels_last):
            objective.model.to(memory_format=layout)
            name = "channels_last" if layout == torch.channels_last else "nchw"
            out[f"{precision}_{name}_s"] = statistics.median(_time_steps(step, x, repeats + 1)[1:])
            print(f"{precision} {name}: {out[f'{precision}_{name}_s']:.3f} s", flush=True)

    # torch.compile of the same objective, as nst runs it by default here (channels-last,
    # auto precision). Its generator over layers is inlined by dynamo. A fresh cache dir
    # gives the start-up a new Space would pay.
    import os
    import tempfile

    objective.autocast = nst.pipeline.autocast_dtype("auto", torch.device("cpu"))
    os.environ["TORCHINDUCTOR_CACHE_DIR"] = tempfile.mkdtemp(prefix="inductor-")
    compiled = torch.compile(step)
    t = time.perf_counter()
    try:
        _time_steps(compiled, x, 1)
        out["compile_startup_s"] = time.perf_counter() - t
        out["compiled_s"] = statistics.median(_time_steps(compiled, x, repeats))
    except Exception as exc:  # noqa: BLE001 - a trial reports what failed
        out["compile_error"] = f"{type(exc).__name__}: {exc}"[:500]
    return out


def trial_ema(size: int, seconds: float, decays: list[float], optimizers: list[str]) -> dict:
    """Quality of the last iterate and of its averages at several decays, at equal time."""
    content, style = IMAGES / "tubingen.jpg", IMAGES / "starry_night.jpg"
    judge = Judge(content, style, size)
    results: dict = {"size": size, "time_limit_s": seconds, "runs": []}
    OUT.mkdir(parents=True, exist_ok=True)
    for opt in optimizers:
        avg: dict[float, np.ndarray] = {}
        weight: dict[float, float] = {}
        scale = None
        last = None
        for ev in nst.stylize(content, style, size=size, steps=2000, time_limit=seconds,
                              optimizer=opt, preview_every=1):
            if ev.image is None:
                continue
            x = np.asarray(ev.image, dtype=np.float64)
            if ev.scale != scale:  # a new pixel grid: restart the averages
                scale, avg, weight = ev.scale, {d: np.zeros_like(x) for d in decays}, dict.fromkeys(decays, 0.0)
            for d in decays:
                # Bias-corrected EMA: the weights of the steps seen so far sum to 1.
                avg[d] = d * avg[d] + (1 - d) * x
                weight[d] = d * weight[d] + (1 - d)
            last = ev
        run = {"optimizer": opt, "steps": last.step, "elapsed_s": last.elapsed}
        path = OUT / f"trial-ema-{opt}-last.png"
        last.image.save(path)
        run["last"] = judge(path)
        for d in decays:
            path = OUT / f"trial-ema-{opt}-{d}.png"
            Image.fromarray(np.clip(avg[d] / weight[d], 0, 255).round().astype(np.uint8)).save(path)
            run[f"ema_{d}"] = judge(path)
        print(json.dumps(run, indent=1), flush=True)
        results["runs"].append(run)
    return results


def trial_timing(sizes: list[int], steps: int) -> dict:
    """Seconds per step at several sizes (single scale), fitted as a + b·megapixels."""
    content, style = IMAGES / "tubingen.jpg", IMAGES / "starry_night.jpg"
    rows = []
    for size in sizes:
        t0 = time.perf_counter()
        times, prev = [], None
        for ev in nst.stylize(content, style, size=size, steps=steps, multiscale=False, preview_every=0):
            if prev is not None and not ev.done:
                times.append(ev.elapsed - prev)
            prev = ev.elapsed
            w, h = ev.size
        wall = time.perf_counter() - t0
        rows.append({"size": size, "megapixels": w * h / 1e6, "step_s": statistics.median(times),
                     "run_s": wall, "first_step_s": None})
        print(rows[-1], flush=True)
    mp = np.array([r["megapixels"] for r in rows])
    t = np.array([r["step_s"] for r in rows])
    b, a = np.polyfit(mp, t, 1)
    return {"steps": steps, "rows": rows, "fit": {"seconds_per_step": a, "seconds_per_megapixel_step": b}}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    sub = parser.add_subparsers(dest="trial", required=True)
    p = sub.add_parser("step")
    p.add_argument("--size", type=int, default=512)
    p.add_argument("--repeats", type=int, default=5)
    p = sub.add_parser("ema")
    p.add_argument("--size", type=int, default=512)
    p.add_argument("--seconds", type=float, default=60)
    p.add_argument("--decays", type=float, nargs="+", default=[0.5, 0.8, 0.9, 0.95])
    p.add_argument("--optimizers", nargs="+", default=["lbfgs", "adam"])
    p = sub.add_parser("timing")
    p.add_argument("--sizes", type=int, nargs="+", default=[128, 192, 256, 384, 512, 768])
    p.add_argument("--steps", type=int, default=6)
    args = parser.parse_args()
    torch.manual_seed(0)
    if args.trial == "step":
        res = trial_step(args.size, args.repeats)
    elif args.trial == "ema":
        res = trial_ema(args.size, args.seconds, args.decays, args.optimizers)
    else:
        res = trial_timing(args.sizes, args.steps)
    res = {"machine": machine(), "torch": torch.__version__, **res}
    OUT.mkdir(parents=True, exist_ok=True)
    (OUT / f"trials-{args.trial}.json").write_text(json.dumps(res, indent=1))
    print(json.dumps(res, indent=1))


if __name__ == "__main__":
    main()
