"""The length of L-BFGS's first step at each scale: torch's, a fixed one, and nst's.

    python -m bench.first_step                                  # the docs' table
    python -m bench.first_step --pairs coffee:mosaic --budgets 5 --steps 60

torch's L-BFGS takes its first step along the gradient with the length 1/‖g‖₁, which moves
a pixel by about 1e-6 at 128 px and more: the step is spent on a curvature pair alone, and
every scale of a run starts with one (a quarter of a 3% limit's steps at the output size).
Each variant runs the same plans, fitted to a budget by the idle cost model of
bench/short_plans.py (and a whole plan of ``--steps``), to the end, so the comparison is of
iterates, not of how busy the machine was; quality is the reference evaluator's c+s at
512 px (lower is better). Variants:

- ``torch``: torch's first step (nst before this bench);
- ``fixed``: every scale's first step at :data:`nst.steps.FIRST_STEP_RMS`;
- ``nst``: what runs do: the first scale's at FIRST_STEP_RMS, each later one's from the
  curvature the previous scale ended with (:func:`nst.steps.first_step`).

Writes bench/records/first-step-<machine>.json.
"""

from __future__ import annotations

import argparse

import nst
from nst import run as nrun
from nst.schedule import plan_run
from nst.steps import first_step
from nst.timelimit import fit_plan

from .images import SCRATCH, output_options
from .quality import Judge
from .quality_per_second import PAIRS, find
from .short_plans import IDLE, SIZE, measured, write_record

VARIANTS = {
    "torch": lambda optimizer, image, carried: None,
    "fixed": lambda optimizer, image, carried: first_step(optimizer, image, None),
    "nst": first_step,
}


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0], allow_abbrev=False)
    p.add_argument("--pairs", nargs="+", default=PAIRS, metavar="CONTENT:STYLE")
    p.add_argument("--budgets", nargs="+", type=float, default=[5.0, 9.0], help="modelled seconds of a plan")
    p.add_argument("--steps", type=int, default=60, help="a whole plan of this many steps too (0: none)")
    p.add_argument("--variants", nargs="+", default=list(VARIANTS), choices=list(VARIANTS))
    output_options(p, pictures=False)
    args = p.parse_args()
    out = SCRATCH / "first-step"
    out.mkdir(parents=True, exist_ok=True)
    rows = []
    for pair in args.pairs:
        c, s = pair.split(":")
        content, style = find(c), find(s)
        judge = Judge(content, style, SIZE)
        wh = nst.load_image(content).size
        plans = {f"{b:g} s": fit_plan(wh, SIZE, 200, IDLE, b, min_side=32).plan for b in args.budgets}
        if args.steps:
            plans[f"{args.steps} steps"] = plan_run(wh, SIZE, args.steps, min_side=32)
        for name, plan in plans.items():
            for variant in args.variants:
                nrun.first_step = VARIANTS[variant]  # type: ignore[assignment]
                image = out / f"{c}-{s}-{name.replace(' ', '')}-{variant}.png"
                try:
                    rows.append(
                        measured(content, style, plan, image, judge, pair=pair, plan_name=name, variant=variant)
                    )
                finally:
                    nrun.first_step = first_step
    write_record(args.records, "first-step", rows)


if __name__ == "__main__":
    main()
