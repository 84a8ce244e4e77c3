"""Print size: one pair at 1024, 2048 and 4096 px, with the tiled optimisation (nst.tiles).

    python -m bench.print_size                                # tubingen × starry_night, 1024 2048 4096 px
    python -m bench.print_size --sizes 1024 2048 4096 8192    # with a GPU at hand
    python -m bench.print_size --sizes 1024 3072 --steps 40 --reuse   # keep results already made
    python -m bench.print_size --speed 1024 --steps 6 --repeat 3       # tiled vs whole, s per megapixel-step
    python -m bench.print_size --context --sizes 512 --steps 100 --core 128 --halo -1 96 32 16

For each size, ``python -m nst`` runs in its own process (as a user runs it), timed from
outside, its peak resident memory read from the kernel (``RUSAGE_CHILDREN`` of a wrapper
process that runs only it). Then, on the results (the measures are bench/quality.py's):

- **downscale distance**: each result shrunk to the 1024 px result's size, against it: the
  relative distance of their VGG19 features (relu3_1, relu4_1), next to the same distance
  between the 1024 px result and the photo (what "another picture" scores). Small: the
  large result is the same painting (composition and palette), not a new one.
- **seam measure**: the gradient energy (squared difference of neighbouring pixels) across
  the tile borders of the last scale's grids, over that of every other line on the same
  16 px phase. 1: the borders are like any other line; a seam would raise it.
- **crop**: a full-resolution crop of the largest result beside the same region of the
  1024 px result enlarged (bicubic), as ``docs/images/print-crop.png``.

``--speed SIZE`` times single-scale runs at SIZE whole and in tiles (max_memory set so
that tiles of about 512 px are used), interleaved, and prints the seconds per megapixel-step
of each and their ratio. The JSON goes to ``bench/records/print-<machine>.json``; the
results themselves to ``bench/scratch/print/``.

``--context`` measures the tiles' context against the untiled run instead: the finest
scale of a run at the first of ``--sizes`` tiled in ``--core`` px cores with each
``--halo`` (−1: untiled, the reference: run it first, its image is kept beside the others
in ``bench/scratch/context/``), and the Gram slope exact every step, or only for its first
``--exact-steps``. It prints, per variant: J, the seconds per step at the finest scale,
the mean pixel difference from the untiled result and the seam measure on the last grid.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
from PIL import Image

import nst
import nst.pipeline as pipeline
import nst.run as nst_run
import nst.tilegrid as tilegrid
import nst.tiles as tiles
from nst.memory import ACTIVATION_BYTES, TILE_BYTES, plan_memory
from nst.tilegrid import tile_geometry

from . import sheets
from .images import PICTURES, RECORDS, ROOT, SCRATCH, in_folder, resize_to_long_side, shared
from .machine import describe, tag
from .quality import feature_distance, seam_ratio

RESULTS = SCRATCH / "print"
_WRAPPER = (
    "import resource, subprocess, sys, time; t = time.perf_counter(); "
    "code = subprocess.run(sys.argv[1:]).returncode; "
    "print('BENCH', code, time.perf_counter() - t, resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss)"
)


def run_cli(content: Path, style: Path, size: int, steps: int, out: Path, extra: list[str]) -> dict:
    """``python -m nst`` at ``size`` in a process of its own: wall seconds and peak RSS."""
    cmd = [
        sys.executable,
        "-m",
        "nst",
        str(content),
        str(style),
        "--size",
        str(size),
        "--steps",
        str(steps),
        "-o",
        str(out),
        *extra,
    ]
    load = os.getloadavg()[0]
    done = subprocess.run([sys.executable, "-c", _WRAPPER, *cmd], cwd=ROOT, capture_output=True, text=True)
    line = next((l for l in done.stdout.splitlines() if l.startswith("BENCH")), None)
    if line is None or line.split()[1] != "0":
        raise SystemExit(f"nst failed at {size} px:\n{done.stderr[-2000:]}")
    _, _, seconds, rss_kb = line.split()
    return {
        "seconds": round(float(seconds), 1),
        "peak_rss_gb": round(int(rss_kb) * 1024 / 1e9, 3),
        "load_before": round(load, 2),
        "load_after": round(os.getloadavg()[0], 2),
    }


def crop_sheet(big: Image.Image, ref: Image.Image, path: Path, side: int = 512) -> dict:
    """The largest result's crop at full resolution beside the 1024 px result's same region, enlarged."""
    w, h = big.size
    box = (int(w * 0.55) - side // 2, int(h * 0.35) - side // 2)  # the sky's swirls over the houses' roofs
    box = (max(0, box[0]), max(0, box[1]), max(0, box[0]) + side, max(0, box[1]) + side)
    k = ref.width / w
    small = ref.crop(tuple(round(v * k) for v in box)).resize((side, side), Image.Resampling.BICUBIC)
    sheets.row([big.crop(box), small], gap=8).save(path)
    return {"box": box, "sheet": str(path)}


def speed(content: Path, style: Path, size: int, steps: int, repeat: int) -> dict:
    """Seconds per megapixel-step, whole and in tiles of about 512 px, at one size (interleaved)."""
    base = dict(size=size, steps=steps, multiscale=False, preview_every=0, seed=0)
    run = nst.prepare(content, style, **base)
    wh = run.plan[0].wh
    s = run.settings
    _, halo = tile_geometry([s.content_layer, *s.style_layers])
    whole_plan = plan_memory(wh, s, 1e12)
    # A budget that holds the image's buffers and a tile of about 512 + 2·halo px.
    budget = whole_plan.peak - ACTIVATION_BYTES * wh[0] * wh[1] + TILE_BYTES * (512 + 2 * halo) ** 2 + 1e6
    tiled_plan = plan_memory(wh, s, budget)
    mpx = wh[0] * wh[1] / 1e6
    times: dict[str, list[float]] = {"whole": [], "tiled": []}
    for _ in range(repeat):
        for kind, memory in (("whole", 1e3), ("tiled", budget / 1e9)):
            events = list(nst.stylize(content, style, max_memory=memory, **base))
            stamps = [e.elapsed for e in events]
            warm = sorted(b - a for a, b in zip(stamps[:-2], stamps[1:-1]))  # steps after the first
            times[kind].append(statistics.median(warm) / mpx)
    whole, tiled = statistics.median(times["whole"]), statistics.median(times["tiled"])
    return {
        "size": size,
        "wh": wh,
        "steps": steps,
        "repeat": repeat,
        "tiles": tiled_plan.tiles,
        "core": tiled_plan.core,
        "work": round(tiled_plan.work, 3),
        "s_per_mpx_step_whole": round(whole, 4),
        "s_per_mpx_step_tiled": round(tiled, 4),
        "ratio": round(tiled / whole, 3),
        "all": times,
        "load": round(os.getloadavg()[0], 2),
    }


CONTEXT = SCRATCH / "context"


def context(content: Path, style: Path, size: int, steps: int, core: int, halo: int, exact: bool | int) -> dict:
    """One run whose finest scale is tiled in ``core`` px cores with ``halo`` (−1: untiled)."""

    def memory_plans(plan, s, device, masks=False):
        out = []
        for i, sc in enumerate(plan):
            w, h = sc.wh
            if i == len(plan) - 1 and halo >= 0:
                out.append(
                    tilegrid.MemoryPlan(
                        sc.wh,
                        core,
                        halo,
                        16,
                        tilegrid.HISTORY,
                        0.0,
                        len(tilegrid.layout((h, w), core, halo)),
                        tilegrid.work_factor((h, w), core, halo, 16),
                    )
                )
            else:
                out.append(tilegrid.MemoryPlan(sc.wh, None, 0, 16, tilegrid.HISTORY, 0.0))
        return out

    class Tiled(tiles.TiledObjective):
        def __init__(self, *a, **k):
            super().__init__(*a, **{**k, "exact": exact})

    # The plan is made in prepare (nst.pipeline) and the objective in the run (nst.run).
    saved = pipeline.memory_plans, nst_run.TiledObjective
    pipeline.memory_plans, nst_run.TiledObjective = memory_plans, Tiled
    try:
        events = list(nst.stylize(content, style, size=size, steps=steps, seed=0, preview_every=0))
    finally:
        pipeline.memory_plans, nst_run.TiledObjective = saved
    last = events[-1]
    stamps = [e.elapsed for e in events if e.scale[0] == last.scale[1] and not e.done]
    name = "untiled" if halo < 0 else f"halo{halo}-core{core}-exact{exact}"
    last.image.save(in_folder(CONTEXT, f"{name}.png"))
    row = {
        "variant": name,
        "J": round(last.losses["total"], 4),
        "s_per_step": round(statistics.median(np.diff(stamps)), 3) if len(stamps) > 2 else None,
    }
    ref = CONTEXT / "untiled.png"
    if halo >= 0 and ref.exists():
        a = np.asarray(last.image, dtype=np.float32) / 255
        row["diff_to_untiled"] = round(float(np.abs(a - np.asarray(Image.open(ref), dtype=np.float32) / 255).mean()), 5)
        row["seam_last_grid"] = round(
            seam_ratio(
                last.image,
                core,
                16,
                halo,
                pipeline.prepare(content, style, size=size, steps=steps).plan[-1].steps,
                True,
            ),
            3,
        )
    return row


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--content", type=Path, default=shared("tubingen"))
    ap.add_argument("--style", type=Path, default=shared("starry_night"))
    ap.add_argument("--sizes", type=int, nargs="+", default=None, help="default: 1024 2048 4096; --context: 512")
    ap.add_argument("--steps", type=int, default=None, help="default: 200; --context: 100")
    ap.add_argument("--reuse", action="store_true", help="keep results already in bench/scratch/print")
    ap.add_argument("--speed", type=int, metavar="SIZE", help="time whole against tiled steps at SIZE instead")
    ap.add_argument("--repeat", type=int, default=3)
    ap.add_argument("--out", type=Path, default=None, help="the JSON (default bench/records/print-<machine>.json)")
    ap.add_argument(
        "--pictures",
        type=Path,
        default=PICTURES,
        metavar="DIR",
        help="where the crop sheet goes (default: docs/images)",
    )
    ap.add_argument("--context", action="store_true", help="the tiles' context against the untiled run instead")
    ap.add_argument("--core", type=int, default=128, help="--context: the tiles' core (px)")
    ap.add_argument("--halo", type=int, nargs="+", default=[-1, 96, 32], help="--context: each halo (px; -1: untiled)")
    ap.add_argument(
        "--exact-steps", type=int, default=None, help="--context: the Gram slope exact for this many first steps only"
    )
    args = ap.parse_args()
    if args.context:
        exact = True if args.exact_steps is None else args.exact_steps
        size, steps = (args.sizes or [512])[0], args.steps or 100
        for halo in args.halo:
            t = time.perf_counter()
            row = context(args.content, args.style, size, steps, args.core, halo, exact)
            print(json.dumps({**row, "seconds": round(time.perf_counter() - t, 1)}), flush=True)
        return
    args.sizes, args.steps = args.sizes or [1024, 2048, 4096], args.steps or 200
    out = args.out or in_folder(RECORDS, f"print-{tag()}.json")
    report: dict = {"machine": describe(), "when": time.strftime("%Y-%m-%d %H:%M"), "steps": args.steps}
    if args.speed:
        report["speed"] = speed(args.content, args.style, args.speed, args.steps, args.repeat)
        print(json.dumps(report["speed"], indent=1))
        out.write_text(json.dumps(report, indent=1))
        return
    RESULTS.mkdir(parents=True, exist_ok=True)
    sizes = sorted(set(args.sizes) | {1024})
    rows = {}
    for size in sizes:
        path = RESULTS / f"{args.content.stem}-{args.style.stem}-{size}-{args.steps}.png"
        run = nst.prepare(args.content, args.style, size=size, steps=args.steps)
        row = {
            "wh": run.output.size,
            "scales": [
                {
                    "wh": sc.wh,
                    "steps": sc.steps,
                    "tiles": m.tiles if m.tiled else 1,
                    "core": m.core,
                    "halo": m.halo,
                    "align": m.align,
                    "work": round(m.work, 3),
                    "history": m.history,
                    "peak_gb": round(m.peak / 1e9, 3),
                }
                for sc, m in zip(run.plan, run.memory)
            ],
            "planned_peak_gb": round(run.peak_memory / 1e9, 3),
        }
        if not (args.reuse and path.exists()):
            print(f"{size} px …", flush=True)
            row.update(run_cli(args.content, args.style, size, args.steps, path, []))
        else:
            old = json.loads(out.read_text())["sizes"].get(str(size), {}) if out.exists() else {}
            row.update({k: old[k] for k in ("seconds", "peak_rss_gb", "load_before", "load_after") if k in old})
        row["mpx_steps"] = round(sum(sc.mpx * sc.steps for sc in run.plan), 1)
        row["file"] = str(path.relative_to(ROOT))
        rows[size] = row
        print(size, {k: v for k, v in row.items() if k != "scales"}, flush=True)
    ref = Image.open(ROOT / rows[1024]["file"]).convert("RGB")
    photo = resize_to_long_side(nst.load_image(args.content), max(ref.size))
    report["photo_to_1024"] = round(feature_distance(photo, ref), 4)
    for size, row in rows.items():
        img = Image.open(ROOT / row["file"]).convert("RGB")
        if size != 1024:
            down = img.resize(ref.size, Image.Resampling.LANCZOS)
            row["downscale_distance"] = round(feature_distance(down, ref), 4)
        last = row["scales"][-1]
        if last["core"]:
            for key, last_only in (("seam_last_grid", True), ("seam_all_grids", False)):
                ratio = seam_ratio(img, last["core"], last["align"], last["halo"], last["steps"], last_only)
                row[key] = None if ratio != ratio else round(ratio, 3)  # NaN: every line was a border
        print(size, {k: row[k] for k in row if k.startswith(("down", "seam"))}, flush=True)
    largest = max(rows)
    if largest != 1024:
        report["crop"] = crop_sheet(
            Image.open(ROOT / rows[largest]["file"]).convert("RGB"), ref, in_folder(args.pictures, "print-crop.png")
        )
    report["sizes"] = {str(k): v for k, v in rows.items()}
    out.write_text(json.dumps(report, indent=1))
    print("photo ↔ 1024 px result:", report["photo_to_1024"], "→", out)


if __name__ == "__main__":
    main()
