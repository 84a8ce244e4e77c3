"""Portraits × paintings, with and without ``keep_faces``: contact sheets and two measures.

    python -m bench.portraits --threads 1         # 256 px, 200 steps, every pair (the docs')
    python -m bench.portraits --size 512 --tag 512   # nst's default size, on an idle machine
    python -m bench.portraits --only Obama --paintings Starry    # a part (results are kept in --cache)
    python -m bench.portraits detect [--mediapipe PYTHON]   # the detector comparison only

Portraits: the astronaut in ``examples/`` and a close crop of her face; in the shared
images (bench/images.py) Obama's official portrait (a photo), Vermeer's Girl with a Pearl
Earring (three-quarter view), Courbet's Le Désespéré and Picasso's 1907 self-portrait
(paintings). Paintings: Starry Night, The Shipwreck, the Picasso (dark, muted) and the
synthetic mosaic (flat). A portrait is not run under itself.

Writes ``docs/images/portraits-TAG.png`` (each portrait, its faces boxed, then each
painting's result without and with ``keep_faces``), ``docs/images/portraits-TAG-faces.png``
(the face crops, enlarged), ``bench/records/portraits-TAG.json`` and a Markdown table. The
measures (bench/quality.py's ``painted`` and ``face_kept``), both with the embedded VGG19 in
fp32 or OpenCV's cascades, independent of the run's own costs:

- **face kept** (per face found in the photo): the eyes the eye detector finds in the
  result's face box, each within 20% of the face's width of an eye it finds there in the
  photo ("eyes 2/2"), and the **face distance**, ‖a(G) − a(C)‖ / ‖a(S) − a(C)‖ at relu4_2
  on the face's box (10% margin, resized to 224 px): 0 is the photo's face, 1 as far from
  it as the painting is;
- **painted** (the rest): the style distance of ``python -m bench.pairs``, the mean over relu1_1 …
  relu5_1 of ‖Ĝ(G) − Ĝ(S)‖ / ‖Ĝ(C) − Ĝ(S)‖, with the Gram matrices of G and C taken
  outside the faces only (weights 1 − the face ovals of nst.faces, area-averaged to each
  layer's grid): 0 is the painting's statistics, 1 the photo's. Lower is more painted.

``detect`` times each detector on every portrait and on seven images without faces, at
1024 px (median of 3), and counts faces found, missed and false. OpenCV's Haar cascades
run in this process; MediaPipe's BlazeFace (``mediapipe<0.10.30``, whose wheels hold its
models; it needs numpy < 2, so it lives in a Python of its own) runs through
``--mediapipe PYTHON`` when given. It writes ``bench/records/portraits-detectors.json``.
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

import torch
from PIL import Image, ImageDraw

import nst
from nst import faces as nf
from nst import weightmaps

from . import sheets as sh
from .images import EXAMPLES, SHARED, in_folder, open_image, output_options
from .machine import describe
from .quality import face_kept, face_painted, painted

PORTRAITS = [
    ("astronaut", EXAMPLES / "astronaut.jpg"),
    ("her face", "face"),
    ("Obama (photo)", SHARED / "obama_official_portrait.jpg"),
    ("Vermeer", SHARED / "vermeer_girl_with_a_pearl_earring.jpg"),
    ("Courbet", SHARED / "courbet_le_desespere.jpg"),
    ("Picasso", SHARED / "picasso_selfport1907.jpg"),
]
PAINTINGS = [
    ("Starry Night", EXAMPLES / "starry_night.jpg"),
    ("Shipwreck", EXAMPLES / "shipwreck.jpg"),
    ("Picasso (dark)", SHARED / "picasso_selfport1907.jpg"),
    ("mosaic (flat)", EXAMPLES / "mosaic.jpg"),
]
# The face method's constants (nst.weightmaps) a variant may set: the content weight over
# the face and its features at the content layer, and the structure term's weight, map and scale.
_METHOD = ("FACE_WEIGHT", "FEATURE_WEIGHT", "STRUCTURE_WEIGHT", "STRUCTURE_OVAL", "STRUCTURE_SIGMA", "STRUCTURE_GATE")
# Images without a face, for the detectors' false faces.
NO_FACES = [EXAMPLES / n for n in ("chelsea.jpg", "coffee.jpg", "starry_night.jpg", "shipwreck.jpg", "mosaic.jpg")] + [
    SHARED / "tubingen.jpg",
    SHARED / "hoovertowernight.jpg",
]


def boxed(img: Image.Image, found: list[nf.Face]) -> Image.Image:
    out = img.copy()
    d = ImageDraw.Draw(out)
    for f in found:
        x, y, w, h = f.box
        d.rectangle((x, y, x + w, y + h), outline=(0, 255, 0), width=max(2, img.width // 150))
        for ex, ey in f.features().values():
            r = max(2, w // 30)
            d.ellipse((ex - r, ey - r, ex + r, ey + r), outline=(255, 255, 0), width=max(1, r // 2))
    return out


def sheets(rows: list[dict], tag: str, pictures: Path, cell: int = 170) -> None:
    """The contact sheet (photo, then each painting without | with) and the face crops."""
    names = [n for n, _ in PAINTINGS]
    top = [None] + [
        c
        for name, path in PAINTINGS
        for c in ((f"{name}\n(without | with keep_faces)", open_image(path)) if path.is_file() else None, None)
    ]
    grid = [(None, top)]
    for pname, _ in PORTRAITS:
        mine = [r for r in rows if r["portrait"] == pname]
        if not mine:
            continue
        cells: list = [None] * (1 + 2 * len(PAINTINGS))
        cells[0] = (
            f"{pname}\n{len(mine[0]['faces_obj'])} face(s)",
            boxed(mine[0]["content_img"], mine[0]["faces_obj"]),
        )
        for r in mine:
            j = names.index(r["painting"])
            for k, key in enumerate(("without", "with")):
                m = r[key]
                eyes = " ".join(f"eyes {x['eyes_kept']}/{x['eyes_photo']} d {x['distance']:.2f}" for x in m["faces"])
                cells[1 + 2 * j + k] = (f"{key}: painted {m['painted']:.2f}\n{eyes}", m["img"])
        grid.append((None, cells))
    sh.grid(grid, cell=cell, label=30).save(in_folder(pictures, f"portraits-{tag}.png"))

    with_faces = [r for r in rows if r["faces_obj"]]
    if not with_faces:
        return
    face_cell, grid = 150, []
    for pname in [p for p, _ in PORTRAITS if any(r["portrait"] == p for r in with_faces)]:
        mine = [r for r in with_faces if r["portrait"] == pname]
        x, y, w, h = mine[0]["faces_obj"][0].box
        box = (max(0, x - w // 5), max(0, y - h // 5), x + w + w // 5, y + h + h // 5)
        crops = [(pname, mine[0]["content_img"])]
        for r in sorted(mine, key=lambda r: names.index(r["painting"])):
            crops += [(f"{r['painting']}\nwithout", r["without"]["img"]), ("with", r["with"]["img"])]
        grid.append(
            (None, [(t, img.crop(box).resize((face_cell, face_cell), Image.Resampling.LANCZOS)) for t, img in crops])
        )
    sh.grid(grid, cell=face_cell, label=30).save(in_folder(pictures, f"portraits-{tag}-faces.png"))


def run_pairs(args: argparse.Namespace) -> None:
    settings = nst.DEFAULT.replace(size=args.size, steps=args.steps, preview_every=0)
    rows = []
    for pname, psrc in PORTRAITS:
        if args.only and not any(o.lower() in pname.lower() for o in args.only):
            continue
        if isinstance(psrc, Path) and not psrc.is_file():
            print(f"skipped {pname}: {SHARED} is not here", file=sys.stderr)
            continue
        content = open_image(psrc)  # "face": the astronaut's, cropped
        for sname, spath in PAINTINGS:
            if spath == psrc or not spath.is_file():
                continue
            if args.paintings and not any(o.lower() in sname.lower() for o in args.paintings):
                continue
            style = open_image(spath)
            row = {"portrait": pname, "painting": sname}
            for key, keep in (("without", False), ("with", True)):
                run = nst.prepare(content, style, settings.replace(keep_faces=keep))
                if keep and not run.faces:  # nothing to protect: the same run, bit for bit
                    row["with"] = {**row["without"]}
                    break
                # Results are kept in --cache: several processes can share the pairs, and a
                # last run without --only makes the sheets from them all.
                # The runs with faces kept are named by --variant (their method's settings).
                variant = f"{key}-{args.variant}" if keep and args.variant else key
                cached = Path(args.cache) / f"{pname}-{sname}-{variant}-{args.size}-{args.steps}.png".replace(" ", "_")
                t0 = time.perf_counter()
                if args.cached_only and not cached.is_file():
                    row = None
                    break
                if cached.is_file():
                    result = Image.open(cached).convert("RGB")
                    seconds = json.loads(cached.with_suffix(".json").read_text())["seconds"]
                else:
                    result = next(ev.image for ev in run.events() if ev.done)
                    seconds = time.perf_counter() - t0
                    cached.parent.mkdir(parents=True, exist_ok=True)
                    result.save(cached)
                    cached.with_suffix(".json").write_text(json.dumps({"seconds": seconds, "load": os.getloadavg()}))
                found = nf.detect_faces(run.output) if "faces_obj" not in row else row["faces_obj"]
                row["faces_obj"], row["content_img"] = found, run.output
                row[key] = {
                    "img": result,
                    "seconds": round(seconds, 1),
                    "painted": painted(result, run.output, style, found),
                    "whole": painted(result, run.output, style, []),
                    "faces": [
                        {
                            **face_kept(result, run.output, style, f),
                            "face_style": face_painted(result, run.output, style, [f]),
                        }
                        for f in found
                    ],
                }
            if row is None:
                continue
            rows.append(row)
            w, k = row["without"], row["with"]
            print(
                f"{pname} × {sname}: painted {w['painted']:.3f} → {k['painted']:.3f}; whole {w['whole']:.3f} → "
                f"{k['whole']:.3f}; faces "
                + ", ".join(
                    f"eyes {a['eyes_kept']}→{b['eyes_kept']}/{a['eyes_photo']} d {a['distance']:.2f}→{b['distance']:.2f}"
                    f" style {a['face_style']:.2f}→{b['face_style']:.2f}"
                    for a, b in zip(w["faces"], k["faces"])
                )
                + f" ({w['seconds']:.0f}+{k['seconds']:.0f} s)",
                file=sys.stderr,
                flush=True,
            )
    sheets(rows, args.tag, args.pictures)
    table = [
        {
            "portrait": r["portrait"],
            "painting": r["painting"],
            "faces": [f.box for f in r["faces_obj"]],
            **{key: {k: v for k, v in r[key].items() if k != "img"} for key in ("without", "with")},
        }
        for r in rows
    ]
    summary = {
        "settings": settings.to_dict(),
        "variant": args.variant,
        "weights": {k: getattr(weightmaps, k) for k in _METHOD},
        "machine": describe(),
        "load": os.getloadavg(),
        "pairs": table,
    }
    in_folder(args.records, f"portraits-{args.tag}.json").write_text(json.dumps(summary, indent=1))
    print(
        "| portrait × painting | eyes found (cascade; by shape) without | with | face distance without | with | face style without | "
        "with | ratio | whole style without | with | ratio | rest painted without | with |"
    )
    print("| --- | --- | --- | --- | --- | --- | --- | --- | --- | --- | --- | --- | --- |")
    for r in table:
        w, k = r["without"], r["with"]
        eyes = lambda m: (
            ", ".join(
                f"{x['eyes_kept']}/{x['eyes_photo']} (shape {x['eyes_matched']}/2)"  # noqa: E731
                for x in m["faces"]
            )
            or "–"
        )
        num = lambda m, key: ", ".join(f"{x[key]:.2f}" for x in m["faces"]) or "–"  # noqa: E731
        ratio = ", ".join(f"{b['face_style'] / a['face_style']:.2f}" for a, b in zip(w["faces"], k["faces"])) or "–"
        print(
            f"| {r['portrait']} × {r['painting']} | {eyes(w)} | {eyes(k)} | {num(w, 'distance')} | {num(k, 'distance')} | "
            f"{num(w, 'face_style')} | {num(k, 'face_style')} | {ratio} | {w['whole']:.3f} | {k['whole']:.3f} | "
            f"{k['whole'] / w['whole']:.2f} | {w['painted']:.3f} | {k['painted']:.3f} |"
        )


# --- The detector comparison -------------------------------------------------------------

_MEDIAPIPE = r"""
import json, sys, time
import numpy as np
from PIL import Image
import mediapipe as mp
out = {}
with mp.solutions.face_detection.FaceDetection(model_selection=1, min_detection_confidence=0.5) as det:
    for path in sys.argv[1:]:
        img = Image.open(path).convert("RGB")
        k = 1024 / max(img.size)
        img = img.resize((round(img.width * k), round(img.height * k)))
        a = np.asarray(img)
        times, cpu, found = [], [], []
        for _ in range(3):
            t, c = time.perf_counter(), time.process_time(); r = det.process(a)
            times.append(time.perf_counter() - t); cpu.append(time.process_time() - c)
        for d in (r.detections or []):
            b = d.location_data.relative_bounding_box
            found.append([round(b.xmin / k * img.width), round(b.ymin / k * img.height),
                          round(b.width / k * img.width), round(b.height / k * img.height)])
        out[path] = {"faces": found, "seconds": sorted(times)[1], "cpu_seconds": sorted(cpu)[1]}
print(json.dumps(out))
"""


def detect(args: argparse.Namespace) -> None:
    paths, truth = [], {}
    for name, src in PORTRAITS:
        if src == "face":
            p = Path("/tmp") / "nst-bench-face.png"
            open_image("face").save(p)
        else:
            p = Path(src)
        if p.is_file():
            paths.append(p)
            truth[str(p)] = (name, 1)
    for p in NO_FACES:
        if p.is_file():
            paths.append(p)
            truth[str(p)] = (p.stem, 0)
    results: dict[str, dict] = {"opencv-haar": {}}
    for p in paths:
        img = Image.open(p).convert("RGB")
        k = 1024 / max(img.size)
        img = img.resize((round(img.width * k), round(img.height * k)))
        times, cpu = [], []
        for _ in range(3):
            c = time.process_time()
            found, t = nf.timed_detect(img)
            times.append(t)
            cpu.append(time.process_time() - c)
        results["opencv-haar"][str(p)] = {
            "faces": [list(f.box) for f in found],
            "seconds": statistics.median(times),
            "cpu_seconds": statistics.median(cpu),
        }
    if args.mediapipe:
        done = subprocess.run([args.mediapipe, "-c", _MEDIAPIPE, *map(str, paths)], capture_output=True, text=True)
        if done.returncode:
            print(done.stderr[-2000:], file=sys.stderr)
        else:
            results["mediapipe-blazeface"] = json.loads(done.stdout.strip().splitlines()[-1])
    print(f"machine: {describe()}; load {os.getloadavg()}")
    print("| image | truth | " + " | ".join(results) + " |\n| --- | --- | " + " | ".join("---" for _ in results) + " |")
    summary = {}
    for p in paths:
        name, n = truth[str(p)]
        cells = [
            f"{len(r[str(p)]['faces'])} face(s), {1000 * r[str(p)]['seconds']:.0f} ms "
            f"({1000 * r[str(p)]['cpu_seconds']:.0f} ms CPU)"
            for r in results.values()
        ]
        print(f"| {name} | {n} | " + " | ".join(cells) + " |")
    for det, r in results.items():
        found = sum(min(1, len(r[str(p)]["faces"])) for p in paths if truth[str(p)][1])
        false = sum(max(0, len(r[str(p)]["faces"]) - truth[str(p)][1]) for p in paths)
        summary[det] = {
            "found": found,
            "missed": sum(1 for p in paths if truth[str(p)][1]) - found,
            "false": false,
            "median_ms": 1000 * statistics.median(x["seconds"] for x in r.values()),
            "median_cpu_ms": 1000 * statistics.median(x["cpu_seconds"] for x in r.values()),
        }
        print(
            f"{det}: found {found}, missed {summary[det]['missed']}, false {false}, "
            f"median {summary[det]['median_ms']:.0f} ms at 1024 px ({summary[det]['median_cpu_ms']:.0f} ms of CPU)"
        )
    in_folder(args.records, "portraits-detectors.json").write_text(
        json.dumps(
            {
                "machine": describe(),
                "load": os.getloadavg(),
                "summary": summary,
                "images": {truth[p][0]: {d: r[p] for d, r in results.items()} for p in map(str, paths)},
            },
            indent=1,
        )
    )


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0], allow_abbrev=False)
    p.add_argument("what", nargs="?", default="pairs", choices=("pairs", "detect"))
    p.add_argument("--size", type=int, default=256)
    p.add_argument("--steps", type=int, default=200)
    p.add_argument("--tag", default="256", help="names the output files")
    p.add_argument("--only", nargs="*", help="run only portraits whose name contains one of these")
    p.add_argument("--paintings", nargs="*", help="run only paintings whose name contains one of these")
    p.add_argument("--mediapipe", help="a Python with mediapipe<0.10.30 installed, for `detect`")
    p.add_argument("--cache", default="/tmp/nst-portraits", help="where results are kept between runs")
    p.add_argument("--cached-only", action="store_true", help="make the sheets from the results in --cache only")
    p.add_argument("--variant", default="", help="names the runs with faces kept (a method's settings) in --cache")
    p.add_argument(
        "--set",
        nargs="*",
        default=[],
        metavar="NAME=VALUE",
        help=f"set the face method's constants of nst.weightmaps for a variant: {', '.join(_METHOD)}",
    )
    p.add_argument("--threads", type=int, help="torch's CPU threads (1 is fastest on a busy machine)")
    output_options(p)
    args = p.parse_args()
    for item in args.set:
        name, _, value = item.partition("=")
        if name not in _METHOD:
            p.error(f"--set: {name} is not one of {', '.join(_METHOD)}")
        setattr(weightmaps, name, float(value))
    if args.threads:
        torch.set_num_threads(args.threads)
        import cv2

        cv2.setNumThreads(args.threads)
    (detect if args.what == "detect" else run_pairs)(args)


if __name__ == "__main__":
    main()
