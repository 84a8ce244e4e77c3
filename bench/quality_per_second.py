"""Quality against seconds: nst under time limits beside pastiche's steps, on one machine, in one run.

    python -m bench.quality_per_second                      # the docs' pairs at 512 px
    python -m bench.quality_per_second --pairs chelsea:starry_night --fractions 0.03 0.05

For each pair, pastiche runs 100 steps once, saving its image every 5 steps (its
``--workspace``): each saved image's time is its file's, from the process's start, so one
run gives pastiche at 10, 25, 50 and 100 steps (``--pastiche-from`` takes them from an earlier
record of the same machine instead). Then nst runs with ``--time-limit`` at each
fraction of pastiche's 100-step wall time (the issue's definition; the CLI's limit counts
from the process's start, Python's start-up and imports included, so the whole process
takes the fraction; ``--strict`` also takes nst's start-up off each limit, which counts it
twice: the first record's reading). Both run as subprocesses; the
wall times, start-up included, are what the curve plots. Quality is the reference
evaluator's (bench/quality.py ``Judge``): c+s, the content distance plus the style
distance at the output's size, lower is better.

Writes bench/records/quality-per-second-<machine>.json, the curve
docs/images/quality-per-second.png (c+s against seconds, every pair) and, per pair, the
pictures at 3%, 5% and 10% beside pastiche's 100 steps,
docs/images/quality-per-second-<pair>.png.
"""

from __future__ import annotations

import argparse
import json
import math
import os
import sys
import time
from pathlib import Path

from PIL import Image, ImageDraw

from . import sheets
from .against_pastiche import run_measured
from .images import EXAMPLES, SCRATCH, SHARED, in_folder, output_options
from .machine import describe, tag
from .quality import Judge

# The app's example pairs, and Tübingen.
PAIRS = ["astronaut:starry_night", "chelsea:shipwreck", "coffee:mosaic", "tubingen:starry_night"]
FRACTIONS = [0.02, 0.03, 0.05, 0.1, 0.2, 0.3]
PASTICHE_STEPS = [10, 25, 50, 100]
SHOWN = [0.03, 0.05, 0.1]  # the fractions whose pictures the docs show
SIZE = 512


def find(stem: str) -> Path:
    """An example image, else a shared one, by its stem."""
    for folder in (EXAMPLES, SHARED):
        if (folder / f"{stem}.jpg").is_file():
            return folder / f"{stem}.jpg"
    raise SystemExit(f"no image {stem}.jpg in {EXAMPLES} or {SHARED}")


def pastiche_curve(content: Path, style: Path, size: int, out: Path, judge: Judge) -> list[dict]:
    """pastiche's 100 steps, measured at each of :data:`PASTICHE_STEPS` from its saved images."""
    work = out / "steps"
    for old in work.glob("*.png") if work.is_dir() else []:
        old.unlink()
    cmd = [sys.executable, "-m", "pastiche", "--content", str(content), "--styles", str(style)]
    cmd += ["--output", str(out / "100.png"), "--size", str(size), "--num-steps", str(max(PASTICHE_STEPS))]
    cmd += ["--no-verbose", "--seed", "0", "--workspace", str(work), "--workspace-step", "5"]
    start = time.time()
    whole = run_measured(cmd)
    points = []
    for steps in PASTICHE_STEPS:
        saved = work / f"{steps:03d}.png"
        points.append({"steps": steps, "wall_s": saved.stat().st_mtime - start, **judge(saved), "image": str(saved)})
    points[-1]["wall_s"] = whole["wall_s"]  # the whole process, as nst's are timed
    return points


def nst_curve(
    content: Path,
    style: Path,
    size: int,
    wall: float,
    fractions: list[float],
    out: Path,
    judge: Judge,
    startup: float = 0.0,
) -> list[dict]:
    """nst under a time limit at each of the fractions of ``wall`` (pastiche's 100 steps): the
    limit is that fraction (the CLI's limit counts from its start), with ``startup`` seconds
    taken off it (0: the issue's definition; the whole process then runs a little longer)."""
    points = []
    for fraction in fractions:
        limit = max(0.5, fraction * wall - startup)
        image = out / f"nst-{fraction:g}.png"
        cmd = [sys.executable, "-m", "nst", str(content), str(style), "-o", str(image), "--size", str(size)]
        cmd += ["--time-limit", f"{limit:.2f}"]
        measured = run_measured(cmd)
        points.append({"fraction": fraction, "time_limit_s": limit, **measured, **judge(image), "image": str(image)})
        print(f"  nst at {fraction:.0%} ({limit:.1f} s): {points[-1]['wall_s']:.1f} s, c+s {points[-1]['quality']:.3f}")
    return points


def plot(rows: list[dict], path: Path, width: int = 760, height: int = 420) -> None:
    """c+s against seconds (log scale), one colour per pair: nst solid, pastiche dashed."""
    colours = ["#1f77b4", "#d62728", "#2ca02c", "#9467bd", "#ff7f0e"]
    left, right, top, bottom = 60, 200, 20, 50
    xs = [p["wall_s"] for r in rows for p in r["nst"] + r["pastiche"]]
    ys = [p["quality"] for r in rows for p in r["nst"] + r["pastiche"]]
    x0, x1 = math.log10(min(xs) * 0.8), math.log10(max(xs) * 1.2)
    y1 = max(ys) * 1.05

    def at(x: float, y: float) -> tuple[float, float]:
        fx = (math.log10(x) - x0) / (x1 - x0)
        return left + fx * (width - left - right), top + (1 - y / y1) * (height - top - bottom)

    img = Image.new("RGB", (width, height), "white")
    d = ImageDraw.Draw(img)
    d.rectangle((left, top, width - right, height - bottom), outline="black")
    for tick in (1, 2, 5, 10, 20, 50, 100, 200, 500):
        if x0 <= math.log10(tick) <= x1:
            x, _ = at(tick, 0)
            d.line((x, height - bottom, x, height - bottom + 4), fill="black")
            d.text((x - 8, height - bottom + 8), f"{tick}", fill="black")
    for k in range(6):
        y = y1 * k / 5
        _, py = at(1, y)
        d.line((left - 4, py, left, py), fill="black")
        d.text((8, py - 6), f"{y:.2f}", fill="black")
    d.text((left + 150, height - 20), "seconds (whole process, log scale)", fill="black")
    d.text((8, 2), "c+s (lower is better)", fill="black")
    for i, r in enumerate(rows):
        c = colours[i % len(colours)]
        for key, dash in (("nst", False), ("pastiche", True)):
            pts = [at(p["wall_s"], p["quality"]) for p in sorted(r[key], key=lambda p: p["wall_s"])]
            for a, b in zip(pts, pts[1:]):
                if dash:
                    n = 8
                    for k in range(0, n, 2):
                        d.line(
                            (
                                a[0] + (b[0] - a[0]) * k / n,
                                a[1] + (b[1] - a[1]) * k / n,
                                a[0] + (b[0] - a[0]) * (k + 1) / n,
                                a[1] + (b[1] - a[1]) * (k + 1) / n,
                            ),
                            fill=c,
                            width=2,
                        )
                else:
                    d.line((*a, *b), fill=c, width=2)
            for x, y in pts:
                d.ellipse((x - 3, y - 3, x + 3, y + 3), fill=c if not dash else "white", outline=c)
        y = top + 10 + 34 * i
        d.line((width - right + 10, y, width - right + 30, y), fill=c, width=2)
        d.text((width - right + 36, y - 6), f"{r['pair']}\nnst solid, pastiche dashed", fill="black")
    img.save(path)


def pictures(row: dict, path: Path) -> None:
    """nst at the shown fractions beside pastiche's 100 steps, labelled with seconds and c+s."""
    cells = []
    for p in row["nst"]:
        if any(abs(p["fraction"] - f) < 1e-9 for f in SHOWN):
            cells.append((f"nst {p['fraction']:.0%}: {p['wall_s']:.1f} s, c+s {p['quality']:.2f}", p["image"]))
    last = row["pastiche"][-1]
    cells.append((f"pastiche 100 steps: {last['wall_s']:.0f} s, c+s {last['quality']:.2f}", last["image"]))
    images = [Image.open(p).convert("RGB") for _, p in cells]
    sheets.row(images, [label for label, _ in cells], height=240).save(path)


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0], allow_abbrev=False)
    p.add_argument("--pairs", nargs="+", default=PAIRS, metavar="CONTENT:STYLE", help="image stems")
    p.add_argument("--fractions", nargs="+", type=float, default=FRACTIONS, help="of pastiche's 100-step time")
    p.add_argument("--size", type=int, default=SIZE)
    p.add_argument(
        "--strict",
        action="store_true",
        help="also take nst's start-up off each limit (the first record's reading; counts the start-up twice)",
    )
    p.add_argument("--out", type=Path, default=SCRATCH / "quality-per-second", help="each run's images")
    p.add_argument(
        "--pastiche-from",
        type=Path,
        metavar="RECORD",
        help="take pastiche's points (and its images, which must still be there) from this record of "
        "this bench on the same machine instead of running pastiche again",
    )
    output_options(p)
    args = p.parse_args()
    earlier = {}
    if args.pastiche_from is not None:
        earlier = {r["pair"]: r["pastiche"] for r in json.loads(args.pastiche_from.read_text())["rows"]}
    rows = []
    for pair in args.pairs:
        c, s = pair.split(":")
        content, style = find(c), find(s)
        out = args.out / pair.replace(":", "-")
        out.mkdir(parents=True, exist_ok=True)
        judge = Judge(content, style, args.size)
        load = os.getloadavg()
        if pair in earlier and all(Path(q["image"]).is_file() for q in earlier[pair]):
            past = earlier[pair]
        elif args.pastiche_from is not None:
            raise SystemExit(f"{args.pastiche_from} has no pastiche points for {pair}, or its images are gone")
        else:
            past = pastiche_curve(content, style, args.size, out, judge)
        print(
            f"{pair}: pastiche "
            + ", ".join(f"{q['steps']} steps {q['wall_s']:.0f} s c+s {q['quality']:.3f}" for q in past)
        )
        startup = 0.0
        if args.strict:  # nst's own start-up (a process that only imports nst and loads the network)
            startup = run_measured([sys.executable, "-c", "import nst, torch; nst.load_model()"])["wall_s"]
        ours = nst_curve(content, style, args.size, past[-1]["wall_s"], args.fractions, out, judge, startup)
        rows.append({"pair": pair, "size": args.size, "load": [load, os.getloadavg()], "pastiche": past, "nst": ours})
        pictures(rows[-1], in_folder(args.pictures, f"quality-per-second-{pair.replace(':', '-')}.png"))
    plot(rows, in_folder(args.pictures, "quality-per-second.png"))
    record = {"machine": describe(), "rows": rows}
    if args.pastiche_from is not None:
        record["pastiche_from"] = args.pastiche_from.name
    in_folder(args.records, f"quality-per-second-{tag()}.json").write_text(json.dumps(record, indent=1))
    for r in rows:
        base = r["pastiche"][-1]["quality"]
        for q in r["nst"]:
            print(
                f"{r['pair']}: nst at {q['fraction']:.0%}: c+s {q['quality']:.3f} = {q['quality'] / base:.2f}× pastiche's"
            )


if __name__ == "__main__":
    main()
