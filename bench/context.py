"""Tiles' context against the untiled run: the finest scale of a run tiled in small cores
with a given halo (and the Gram slope exact every step, or only for its first steps).

    python bench/context.py --size 512 --steps 100 --core 128 --halo -1 96 32 16   # -1: untiled, the reference
    python bench/context.py --size 512 --steps 100 --core 128 --halo 32 --exact-steps 3

Prints, per variant: J, the seconds per step at the finest scale, the mean pixel difference
from the untiled result (run it first: it is written beside the others) and the seam
measure of bench/print.py on the last grid. The images go to bench/results/context/.
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import time
from pathlib import Path

import numpy as np
from PIL import Image

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "bench"))

import nst  # noqa: E402
import nst.pipeline as pipeline  # noqa: E402
import nst.tiles as tiles  # noqa: E402
from print import SHARED, seam_ratio  # noqa: E402

OUT = ROOT / "bench" / "results" / "context"


def run(content: Path, style: Path, size: int, steps: int, core: int, halo: int, exact: bool | int) -> dict:
    """One run whose finest scale is tiled in ``core`` px cores with ``halo`` (−1: untiled)."""

    def memory_plans(plan, s, device, masks=False):
        out = []
        for i, sc in enumerate(plan):
            w, h = sc.wh
            if i == len(plan) - 1 and halo >= 0:
                out.append(tiles.MemoryPlan(sc.wh, core, halo, 16, tiles.HISTORY, 0.0,
                                            len(tiles.layout((h, w), core, halo)), tiles.work_factor((h, w), core, halo, 16)))
            else:
                out.append(tiles.MemoryPlan(sc.wh, None, 0, 16, tiles.HISTORY, 0.0))
        return out

    class Tiled(tiles.TiledObjective):
        def __init__(self, *a, **k):
            super().__init__(*a, **{**k, "exact": exact})

    saved = pipeline.memory_plans, pipeline.TiledObjective
    pipeline.memory_plans, pipeline.TiledObjective = memory_plans, Tiled
    try:
        events = list(nst.stylize(content, style, size=size, steps=steps, seed=0, preview_every=0))
    finally:
        pipeline.memory_plans, pipeline.TiledObjective = saved
    last = events[-1]
    stamps = [e.elapsed for e in events if e.scale[0] == last.scale[1] and not e.done]
    name = "untiled" if halo < 0 else f"halo{halo}-core{core}-exact{exact}"
    OUT.mkdir(parents=True, exist_ok=True)
    last.image.save(OUT / f"{name}.png")
    row = {"variant": name, "J": round(last.losses["total"], 4),
           "s_per_step": round(statistics.median(np.diff(stamps)), 3) if len(stamps) > 2 else None}
    ref = OUT / "untiled.png"
    if halo >= 0 and ref.exists():
        a = np.asarray(last.image, dtype=np.float32) / 255
        row["diff_to_untiled"] = round(float(np.abs(a - np.asarray(Image.open(ref), dtype=np.float32) / 255).mean()), 5)
        row["seam_last_grid"] = round(seam_ratio(last.image, core, 16, halo, pipeline.prepare(
            content, style, size=size, steps=steps).plan[-1].steps, True), 3)
    return row


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--content", type=Path, default=SHARED / "tubingen.jpg")
    ap.add_argument("--style", type=Path, default=SHARED / "starry_night.jpg")
    ap.add_argument("--size", type=int, default=512)
    ap.add_argument("--steps", type=int, default=100)
    ap.add_argument("--core", type=int, default=128)
    ap.add_argument("--halo", type=int, nargs="+", default=[-1, 96, 32])
    ap.add_argument("--exact-steps", type=int, default=None, help="the Gram slope exact for this many first steps only")
    args = ap.parse_args()
    exact = True if args.exact_steps is None else args.exact_steps
    for halo in args.halo:
        t = time.perf_counter()
        row = run(args.content, args.style, args.size, args.steps, args.core, halo, exact)
        print(json.dumps({**row, "seconds": round(time.perf_counter() - t, 1)}), flush=True)


if __name__ == "__main__":
    main()
