"""Print size: one pair at 1024, 2048 and 4096 px, with the tiled optimisation (nst.tiles).

    python bench/print.py                                   # tubingen × starry_night, 1024 2048 4096 px
    python bench/print.py --sizes 1024 2048 4096 8192       # with a GPU at hand
    python bench/print.py --sizes 1024 3072 --steps 40 --reuse   # keep results already made
    python bench/print.py --speed 1024 --steps 6 --repeat 3       # tiled vs whole, s per megapixel-step

For each size, ``python -m nst`` runs in its own process (as a user runs it), timed from
outside, its peak resident memory read from the kernel (``RUSAGE_CHILDREN`` of a wrapper
process that runs only it). Then, on the results:

- **downscale distance**: each result shrunk to the 1024 px result's size, against it: the
  relative distance of their VGG19 features (relu3_1, relu4_1), next to the same distance
  between the 1024 px result and the photo (what "another picture" scores). Small: the
  large result is the same painting (composition and palette), not a new one.
- **seam measure**: the gradient energy (squared difference of neighbouring pixels) across
  the tile borders of the last scale's grids, over that of every other line on the same
  16 px phase. 1: the borders are like any other line; a seam would raise it.
- **crop**: a full-resolution crop of the largest result beside the same region of the
  1024 px result enlarged (bicubic), as ``bench/print-crop.png``.

``--speed SIZE`` times single-scale runs at SIZE whole and in tiles (max_memory set so
that tiles of about 512 px are used), interleaved, and prints the seconds per megapixel-step
of each and their ratio. The JSON goes to ``bench/print-<machine>.json``.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import torch
from PIL import Image

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

import nst  # noqa: E402
import nst.images as im  # noqa: E402
from nst.tiles import ACTIVATION_BYTES, TILE_BYTES, grid_offset, layout, plan_memory, tile_geometry  # noqa: E402
from nst.weights import load_model  # noqa: E402

# The benchmark images: shared/images beside the checkout, or above it.
SHARED = next((p / "shared" / "images" for p in ROOT.parents if (p / "shared" / "images").is_dir()),
              ROOT.parent / "shared" / "images")
RESULTS = ROOT / "bench" / "results" / "print"
_WRAPPER = (
    "import resource, subprocess, sys, time; t = time.perf_counter(); "
    "code = subprocess.run(sys.argv[1:]).returncode; "
    "print('BENCH', code, time.perf_counter() - t, resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss)"
)


def machine() -> str:
    try:
        with open("/proc/cpuinfo") as f:
            name = next(line.split(":", 1)[1].strip() for line in f if line.startswith("model name"))
    except (OSError, StopIteration):
        name = platform.processor() or "unknown"
    return f"{name}, {os.cpu_count()} cores"


def run_cli(content: Path, style: Path, size: int, steps: int, out: Path, extra: list[str]) -> dict:
    """``python -m nst`` at ``size`` in a process of its own: wall seconds and peak RSS."""
    cmd = [sys.executable, "-m", "nst", str(content), str(style), "--size", str(size), "--steps", str(steps),
           "-o", str(out), *extra]
    load = os.getloadavg()[0]
    done = subprocess.run([sys.executable, "-c", _WRAPPER, *cmd], cwd=ROOT, capture_output=True, text=True)
    line = next((l for l in done.stdout.splitlines() if l.startswith("BENCH")), None)
    if line is None or line.split()[1] != "0":
        raise SystemExit(f"nst failed at {size} px:\n{done.stderr[-2000:]}")
    _, _, seconds, rss_kb = line.split()
    return {"seconds": round(float(seconds), 1), "peak_rss_gb": round(int(rss_kb) * 1024 / 1e9, 3),
            "load_before": round(load, 2), "load_after": round(os.getloadavg()[0], 2)}


def features(model, img: Image.Image, layers: list[str]) -> dict[str, torch.Tensor]:
    with torch.no_grad():
        return model(im.to_tensor(img), layers)


def feature_distance(model, a: Image.Image, b: Image.Image) -> float:
    """Mean over relu3_1 and relu4_1 of ‖F(a) − F(b)‖ / ‖F(b)‖."""
    layers = ["relu3_1", "relu4_1"]
    fa, fb = features(model, a, layers), features(model, b, layers)
    return float(np.mean([float((fa[l] - fb[l]).norm() / fb[l].norm()) for l in layers]))


def seam_ratio(img: Image.Image, core: int, align: int, halo: int, steps: int, last_only: bool) -> float:
    """Gradient energy across the tile borders of the grids used over the energy across
    every other line on the same ``align`` phase (columns and rows together)."""
    x = np.asarray(img, dtype=np.float32) / 255
    h, w = x.shape[:2]
    ex = ((x[:, 1:] - x[:, :-1]) ** 2).mean(axis=(0, 2))  # ex[c-1]: across the line between columns c-1 and c
    ey = ((x[1:] - x[:-1]) ** 2).mean(axis=(1, 2))
    borders_x, borders_y = set(), set()
    for k in range(steps - 1 if last_only else 0, steps):
        for t in layout((h, w), core, halo, grid_offset(k, core, align)):
            if t.core[0] > 0:
                borders_y.add(t.core[0])
            if t.core[2] > 0:
                borders_x.add(t.core[2])
    on = [ex[c - 1] for c in borders_x] + [ey[r - 1] for r in borders_y]
    # Over many steps the moving grid may have put a border on every line: then there is
    # nothing to compare with (NaN), and the last grid's ratio is the measure.
    off = [ex[c - 1] for c in range(align, w, align) if c not in borders_x]
    off += [ey[r - 1] for r in range(align, h, align) if r not in borders_y]
    return float(np.mean(on) / np.mean(off))


def crop_sheet(big: Image.Image, ref: Image.Image, path: Path, side: int = 512) -> dict:
    """The largest result's crop at full resolution beside the 1024 px result's same region, enlarged."""
    w, h = big.size
    box = (int(w * 0.55) - side // 2, int(h * 0.35) - side // 2)  # the sky's swirls over the houses' roofs
    box = (max(0, box[0]), max(0, box[1]), max(0, box[0]) + side, max(0, box[1]) + side)
    k = ref.width / w
    small = ref.crop(tuple(round(v * k) for v in box)).resize((side, side), Image.Resampling.BICUBIC)
    sheet = Image.new("RGB", (2 * side + 8, side), "white")
    sheet.paste(big.crop(box), (0, 0))
    sheet.paste(small, (side + 8, 0))
    sheet.save(path)
    return {"box": box, "sheet": str(path.relative_to(ROOT))}


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
    return {"size": size, "wh": wh, "steps": steps, "repeat": repeat, "tiles": tiled_plan.tiles,
            "core": tiled_plan.core, "work": round(tiled_plan.work, 3),
            "s_per_mpx_step_whole": round(whole, 4), "s_per_mpx_step_tiled": round(tiled, 4),
            "ratio": round(tiled / whole, 3), "all": times, "load": round(os.getloadavg()[0], 2)}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--content", type=Path, default=SHARED / "tubingen.jpg")
    ap.add_argument("--style", type=Path, default=SHARED / "starry_night.jpg")
    ap.add_argument("--sizes", type=int, nargs="+", default=[1024, 2048, 4096])
    ap.add_argument("--steps", type=int, default=200)
    ap.add_argument("--reuse", action="store_true", help="keep results already in bench/results/print")
    ap.add_argument("--speed", type=int, metavar="SIZE", help="time whole against tiled steps at SIZE instead")
    ap.add_argument("--repeat", type=int, default=3)
    ap.add_argument("--out", type=Path, default=None, help="the JSON (default bench/print-<machine>.json)")
    args = ap.parse_args()
    out = args.out or ROOT / "bench" / f"print-{platform.node() or 'machine'}.json"
    report: dict = {"machine": machine(), "when": time.strftime("%Y-%m-%d %H:%M"), "steps": args.steps}
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
        row = {"wh": run.output.size, "scales": [
            {"wh": sc.wh, "steps": sc.steps, "tiles": m.tiles if m.tiled else 1, "core": m.core, "halo": m.halo,
             "align": m.align,
             "work": round(m.work, 3), "history": m.history, "peak_gb": round(m.peak / 1e9, 3)}
            for sc, m in zip(run.plan, run.memory)],
            "planned_peak_gb": round(run.peak_memory / 1e9, 3)}
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
    model = load_model("embedded", "max", "cpu").truncated("relu4_1")
    ref_path = Path(ROOT / rows[1024]["file"])
    ref = Image.open(ref_path).convert("RGB")
    photo = im.resize_to_long_side(im.load_image(args.content), max(ref.size))
    report["photo_to_1024"] = round(feature_distance(model, photo, ref), 4)
    for size, row in rows.items():
        img = Image.open(ROOT / row["file"]).convert("RGB")
        if size != 1024:
            down = img.resize(ref.size, Image.Resampling.LANCZOS)
            row["downscale_distance"] = round(feature_distance(model, down, ref), 4)
        last = row["scales"][-1]
        if last["core"]:
            for key, last_only in (("seam_last_grid", True), ("seam_all_grids", False)):
                ratio = seam_ratio(img, last["core"], last["align"], last["halo"], last["steps"], last_only)
                row[key] = None if ratio != ratio else round(ratio, 3)  # NaN: every line was a border
        print(size, {k: row[k] for k in row if k.startswith(("down", "seam"))}, flush=True)
    largest = max(rows)
    if largest != 1024:
        report["crop"] = crop_sheet(Image.open(ROOT / rows[largest]["file"]).convert("RGB"), ref,
                                    ROOT / "bench" / "print-crop.png")
    report["sizes"] = {str(k): v for k, v in rows.items()}
    out.write_text(json.dumps(report, indent=1))
    print("photo ↔ 1024 px result:", report["photo_to_1024"], "→", out)


if __name__ == "__main__":
    main()
