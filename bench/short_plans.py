"""Plan shapes for a short time limit, against each other at equal modelled cost.

    python -m bench.short_plans                                   # 6 s and 10 s, tubingen × starry_night
    python -m bench.short_plans --budgets 6 --pairs chelsea:starry_night --shapes fitted 128+512x5

A shape is a list of (long side, steps); each is fitted to the budget (90% of it, as a time
limit keeps) by the same cost model, an idle 2-core AMD EPYC's in bf16 (``IDLE``), then run
to the end with no limit, so that its quality does not depend on how busy the machine is
while it runs: this bench compares plans, not wall times. Quality is the reference
evaluator's c+s at 512 px (bench/quality.py ``Judge``). Shapes:

- ``fitted``: what :func:`nst.timelimit.fit_plan` chooses now;
- ``upsampled``: the plan at the largest working size where 40 steps fit, upsampled to the
  output (the rule before the finishing pass);
- ``cutalike``: the default plan's scales, every one cut alike (the rule before that);
- ``A+512xK`` / ``A-B+512xK``: scales at A (and B) px taking what is left after K steps at 512 px.

Each scale after the first starts from the last one's result with the photo's finest band
(:func:`nst.steps.upsample`, as runs do). Writes bench/records/short-plans-<machine>.json and
each result to bench/scratch/short-plans/.
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

from PIL import Image

import nst
from nst import run as nrun
from nst.costmodel import CostModel
from nst.schedule import ScalePlan, estimate_seconds, long_side, plan_run
from nst.timelimit import FittedPlan, fit_plan

from .images import SCRATCH, in_folder, output_options
from .machine import describe, tag
from .quality import Judge
from .quality_per_second import find

# A step's and a scale's seconds on an idle 2-core AMD EPYC in bf16 (0.74 s a step at 512×384).
IDLE = CostModel(step=(0.03, 3.6), scale=(0.15, 4.0), finish=(0.02, 0.3), measured=True)
SIZE = 512
SHAPES = ["fitted", "upsampled", "cutalike", "128+512x5", "181+512x4", "256+512x7", "181-362+512x5"]


def shaped(name: str, wh: tuple[int, int], budget: float) -> list[ScalePlan] | None:
    """The plan of shape ``name`` with the most steps that fits ``budget`` under :data:`IDLE`."""
    if name == "fitted":
        return fit_plan(wh, SIZE, 200, IDLE, budget, min_side=32).plan
    if name == "upsampled":
        for working in (512, 362, 256, 181, 128):
            best = None
            for n in range(40, 201):
                plan = plan_run(wh, working, n, min_side=32)
                if estimate_seconds(plan, IDLE) > budget:
                    break
                best = plan
            if best is not None:
                return best
        return plan_run(wh, 128, 40, min_side=32)
    if name == "cutalike":  # the default plan's scales, each keeping the same fraction of its steps
        full, best = plan_run(wh, SIZE, 200, min_side=32), None
        for f in (i / 400 for i in range(1, 401)):
            plan = [ScalePlan(sc.wh, max(1, round(sc.steps * f))) for sc in full]
            if estimate_seconds(plan, IDLE) > budget:
                break
            best = plan
        return best
    coarse, _, k = name.partition("+512x")
    sizes = [int(x) for x in coarse.split("-")]
    finish = ScalePlan(long_side(wh, SIZE), int(k))
    best = None
    for n in range(1, 400):
        plan = [ScalePlan(long_side(wh, sz), n if i == 0 else int(k)) for i, sz in enumerate(sizes)] + [finish]
        if estimate_seconds(plan, IDLE) > budget:
            break
        best = plan
    return best


def run_plan(content: Path, style: Path, plan: list[ScalePlan]) -> Image.Image:
    """``plan`` run to the end: the run's own fitting is given this plan, and no deadline is near."""
    real = nrun.fit_plan
    nrun.fit_plan = lambda *a, **k: FittedPlan(plan)  # type: ignore[assignment]
    try:
        s = nst.DEFAULT.replace(size=SIZE, steps=sum(p.steps for p in plan), time_limit=80000, preview_every=0)
        return nst.stylize_image(content, style, s)
    finally:
        nrun.fit_plan = real


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0], allow_abbrev=False)
    p.add_argument("--budgets", nargs="+", type=float, default=[6.0, 10.0], help="time limits (s)")
    p.add_argument("--pairs", nargs="+", default=["tubingen:starry_night"], metavar="CONTENT:STYLE")
    p.add_argument("--shapes", nargs="+", default=SHAPES)
    output_options(p, pictures=False)
    args = p.parse_args()
    out = SCRATCH / "short-plans"
    out.mkdir(parents=True, exist_ok=True)
    rows = []
    for pair in args.pairs:
        c, s = pair.split(":")
        content, style = find(c), find(s)
        judge = Judge(content, style, SIZE)
        wh = nst.load_image(content).size
        for budget in args.budgets:
            for name in args.shapes:
                plan = shaped(name, wh, budget * 0.9)
                if plan is None:
                    print(f"{pair} {budget:g} s {name}: does not fit")
                    continue
                image = out / f"{c}-{s}-{budget:g}-{name}.png"
                fields = {"budget_s": budget, "shape": name, "modelled_s": round(estimate_seconds(plan, IDLE), 2)}
                rows.append(measured(content, style, plan, image, judge, pair=pair, **fields))
    write_record(args.records, "short-plans", rows)


def measured(content: Path, style: Path, plan: list[ScalePlan], image: Path, judge: Judge, **fields: object) -> dict:
    """``plan`` run to its end into ``image``, and its row: ``fields``, the plan, the wall time
    and the judge's distances (printed as it comes)."""
    t = time.perf_counter()
    run_plan(content, style, plan).save(image)
    row = {
        **fields,
        "plan": [(max(sc.wh), sc.steps) for sc in plan],
        "wall_s": round(time.perf_counter() - t, 1),
        **{k: round(v, 4) for k, v in judge(image).items()},
    }
    print(json.dumps(row), flush=True)
    return row


def write_record(folder: Path, name: str, rows: list[dict]) -> None:
    """The rows as ``<name>-<machine>.json``, with the machine and the cost model that fitted the plans."""
    in_folder(folder, f"{name}-{tag()}.json").write_text(
        json.dumps({"machine": describe(), "cost_model": IDLE.__dict__, "rows": rows}, indent=1)
    )


if __name__ == "__main__":
    main()
