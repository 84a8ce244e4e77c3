"""Portraits × paintings, with and without ``keep_faces``: contact sheets and two measures.

    python bench/portraits.py --threads 1         # 256 px, 200 steps, every pair (the README's)
    python bench/portraits.py --size 512 --tag 512   # nst's default size, on an idle machine
    python bench/portraits.py --only Obama --paintings Starry    # a part (results are kept in --cache)
    python bench/portraits.py detect [--mediapipe PYTHON]   # the detector comparison only

Portraits: the astronaut in ``examples/`` and a close crop of her face; in
``../shared/images`` Obama's official portrait (a photo), Vermeer's Girl with a Pearl
Earring (three-quarter view), Courbet's Le Désespéré and Picasso's 1907 self-portrait
(paintings). Paintings: Starry Night, The Shipwreck, the Picasso (dark, muted) and the
synthetic mosaic (flat). A portrait is not run under itself.

Writes ``bench/portraits-TAG.png`` (each portrait, its faces boxed, then each painting's
result without and with ``keep_faces``), ``bench/portraits-TAG-faces.png`` (the face crops,
enlarged), ``bench/portraits-TAG.json`` and a Markdown table. The measures, both with the
embedded VGG19 in fp32 or OpenCV's cascades, independent of the run's own costs:

- **face kept** (per face found in the photo): the eyes the eye detector finds in the
  result's face box, each within 20% of the face's width of an eye it finds there in the
  photo ("eyes 2/2"), and the **face distance**, ‖a(G) − a(C)‖ / ‖a(S) − a(C)‖ at relu4_2
  on the face's box (10% margin, resized to 224 px): 0 is the photo's face, 1 as far from
  it as the painting is;
- **painted** (the rest): the style distance of bench/pairs.py, the mean over relu1_1 …
  relu5_1 of ‖Ĝ(G) − Ĝ(S)‖ / ‖Ĝ(C) − Ĝ(S)‖, with the Gram matrices of G and C taken
  outside the faces only (weights 1 − the face ovals of nst.faces, area-averaged to each
  layer's grid): 0 is the painting's statistics, 1 the photo's. Lower is more painted.

``detect`` times each detector on every portrait and on seven images without faces, at
1024 px (median of 3), and counts faces found, missed and false. OpenCV's Haar cascades
run in this process; MediaPipe's BlazeFace (``mediapipe<0.10.30``, whose wheels hold its
models; it needs numpy < 2, so it lives in a Python of its own) runs through
``--mediapipe PYTHON`` when given.
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
import torch
from PIL import Image, ImageDraw

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

import nst  # noqa: E402
from nst import faces as nf  # noqa: E402
from nst import images as im  # noqa: E402
from nst.losses import gram_matrix  # noqa: E402

EXAMPLES = ROOT / "examples"
# ../shared/images beside the repository (or beside the folder holding it).
SHARED = next((p for p in (ROOT.parent / "shared" / "images", ROOT.parents[1] / "shared" / "images") if p.is_dir()),
              ROOT.parent / "shared" / "images")
FACE_BOX = (120, 0, 330, 230)  # the close crop of the astronaut's face, as in bench/pairs.py

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
# Images without a face, for the detectors' false faces.
NO_FACES = [EXAMPLES / n for n in ("chelsea.jpg", "coffee.jpg", "starry_night.jpg", "shipwreck.jpg", "mosaic.jpg")] + [
    SHARED / "tubingen.jpg", SHARED / "hoovertowernight.jpg"]
STYLE_LAYERS = ("relu1_1", "relu2_1", "relu3_1", "relu4_1", "relu5_1")


def open_image(source: Path | str) -> Image.Image:
    if source == "face":
        return Image.open(EXAMPLES / "astronaut.jpg").convert("RGB").crop(FACE_BOX)
    return Image.open(source).convert("RGB")


def face_oval(wh: tuple[int, int], found: list[nf.Face]) -> torch.Tensor:
    """The faces' ovals (as nst.faces draws them, 0–1) at ``wh``, ``(1, 1, H, W)``."""
    m = np.zeros((wh[1], wh[0]), np.float32)
    for f in found:
        x, y, w, h = f.box
        m = np.maximum(m, nf._ellipse(m.shape, x + w / 2, y + 0.52 * h, 0.55 * w, 0.68 * h, 0.35))
    return torch.from_numpy(m)[None, None]


class Measures:
    """The face and painted measures of a result (see the module docstring)."""

    def __init__(self) -> None:
        self.model = nst.load_model("embedded", "max", "cpu").truncated("relu5_1")

    @torch.no_grad()
    def feats(self, img: Image.Image, layers: tuple[str, ...]) -> dict[str, torch.Tensor]:
        return self.model(im.to_tensor(img), list(layers))

    @staticmethod
    def gram(a: torch.Tensor, m: torch.Tensor | None = None) -> torch.Tensor:
        a = a.float()
        if m is None:
            return gram_matrix(a) / (a.shape[-1] * a.shape[-2])
        w = torch.nn.functional.interpolate(m, size=a.shape[-2:], mode="area")
        f = (a * w.sqrt()).flatten(2)
        return f @ f.transpose(1, 2) / w.sum().clamp_min(1e-6)

    def painted(self, result: Image.Image, content: Image.Image, style: Image.Image, found: list[nf.Face]) -> float:
        outside = 1 - face_oval(result.size, found)
        g, c = self.feats(result, STYLE_LAYERS), self.feats(content, STYLE_LAYERS)
        s = self.feats(im.resize_to_pixels(style, result.width * result.height), STYLE_LAYERS)
        d = [float((self.gram(g[l], outside) - self.gram(s[l])).norm() / (self.gram(c[l], outside) - self.gram(s[l])).norm())
             for l in STYLE_LAYERS]
        return sum(d) / len(d)

    def face(self, result: Image.Image, content: Image.Image, style: Image.Image, f: nf.Face) -> dict:
        x, y, w, h = f.box
        mx, my = 0.1 * w, 0.1 * h
        box = (max(0, round(x - mx)), max(0, round(y - my)), min(content.width, round(x + w + mx)),
               min(content.height, round(y + h + my)))
        crop = lambda img: img.crop(box).resize((224, 224), Image.Resampling.LANCZOS)  # noqa: E731
        g, c = self.feats(crop(result), ("relu4_2",))["relu4_2"], self.feats(crop(content), ("relu4_2",))["relu4_2"]
        s = self.feats(crop(style.resize(content.size, Image.Resampling.LANCZOS)), ("relu4_2",))["relu4_2"]
        photo_eyes, result_eyes = eyes_in(content, f), eyes_in(result, f)
        kept = sum(any(np.hypot(ex - px, ey - py) < 0.2 * w for ex, ey in result_eyes) for px, py in photo_eyes)
        return {"box": list(f.box), "eyes_photo": len(photo_eyes), "eyes_kept": kept,
                "distance": float((g - c).norm() / (s - c).norm())}


def eyes_in(img: Image.Image, f: nf.Face) -> list[tuple[float, float]]:
    """The eyes OpenCV's eye cascade finds in the upper part of ``f``'s box in ``img``, the
    face enlarged to 240 px first (the cascade needs eyes of 20 px or more)."""
    import cv2

    x, y, w, h = f.box
    k = 240 / w
    face = img.crop((x, y, x + w, y + h)).convert("L").resize((240, round(h * k)), Image.Resampling.LANCZOS)
    g = cv2.equalizeHist(np.ascontiguousarray(np.asarray(face)[round(h * k) // 6: round(h * k) * 3 // 5]))
    es = nf._cascades()["eye"].detectMultiScale(g, 1.1, 5, minSize=(30, 30), maxSize=(80, 80))
    return [(x + (ex + ew / 2) / k, y + (round(h * k) // 6 + ey + eh / 2) / k) for ex, ey, ew, eh in (es if len(es) else [])]


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


def fit(img: Image.Image, cell: int) -> Image.Image:
    t = img.copy()
    t.thumbnail((cell, cell))
    return t


def sheets(rows: list[dict], tag: str, cell: int = 170) -> None:
    """The contact sheet (photo, then each painting without | with) and the face crops."""
    pad, label = 6, 30
    cols = 1 + 2 * len(PAINTINGS)
    out = Image.new("RGB", (cols * (cell + pad) + pad, (len(PORTRAITS) + 1) * (cell + label + pad) + pad), "white")
    d = ImageDraw.Draw(out)

    def put(img: Image.Image, col: int, row: int, text: str) -> None:
        x, y = pad + col * (cell + pad), pad + row * (cell + label + pad)
        d.text((x, y + 2), text, fill="black")
        t = fit(img, cell)
        out.paste(t, (x + (cell - t.width) // 2, y + label + (cell - t.height) // 2))

    for j, (name, path) in enumerate(PAINTINGS):
        if not path.is_file():
            continue
        put(open_image(path), 1 + 2 * j, 0, f"{name}\n(without | with keep_faces)")
    for i, (pname, _) in enumerate(PORTRAITS):
        mine = [r for r in rows if r["portrait"] == pname]
        if not mine:
            continue
        put(boxed(mine[0]["content_img"], mine[0]["faces_obj"]), 0, i + 1, f"{pname}\n{len(mine[0]['faces_obj'])} face(s)")
        for r in mine:
            j = [n for n, _ in PAINTINGS].index(r["painting"])
            for k, key in enumerate(("without", "with")):
                m = r[key]
                eyes = " ".join(f"eyes {x['eyes_kept']}/{x['eyes_photo']} d {x['distance']:.2f}" for x in m["faces"])
                put(m["img"], 1 + 2 * j + k, i + 1, f"{key}: painted {m['painted']:.2f}\n{eyes}")
    out.save(ROOT / "bench" / f"portraits-{tag}.png")

    with_faces = [r for r in rows if r["faces_obj"]]
    if not with_faces:
        return
    portraits = [p for p, _ in PORTRAITS if any(r["portrait"] == p for r in with_faces)]
    face_cell = 150
    out = Image.new("RGB", ((2 * len(PAINTINGS) + 1) * (face_cell + pad) + pad,
                            len(portraits) * (face_cell + label + pad) + pad), "white")
    d = ImageDraw.Draw(out)
    for i, pname in enumerate(portraits):
        mine = [r for r in with_faces if r["portrait"] == pname]
        f = mine[0]["faces_obj"][0]
        x, y, w, h = f.box
        box = (max(0, x - w // 5), max(0, y - h // 5), x + w + w // 5, y + h + h // 5)
        y0 = pad + i * (face_cell + label + pad)
        crops = [(pname, mine[0]["content_img"])]
        for r in sorted(mine, key=lambda r: [n for n, _ in PAINTINGS].index(r["painting"])):
            crops += [(f"{r['painting']}\nwithout", r["without"]["img"]), ("with", r["with"]["img"])]
        for k, (text, img) in enumerate(crops):
            x0 = pad + k * (face_cell + pad)
            d.text((x0, y0 + 2), text, fill="black")
            out.paste(img.crop(box).resize((face_cell, face_cell), Image.Resampling.LANCZOS), (x0, y0 + label))
    out.save(ROOT / "bench" / f"portraits-{tag}-faces.png")


def run_pairs(args: argparse.Namespace) -> None:
    settings = nst.DEFAULT.replace(size=args.size, steps=args.steps, preview_every=0)
    measures = Measures()
    rows = []
    for pname, psrc in PORTRAITS:
        if args.only and not any(o.lower() in pname.lower() for o in args.only):
            continue
        if isinstance(psrc, Path) and not psrc.is_file():
            print(f"skipped {pname}: {SHARED} is not here", file=sys.stderr)
            continue
        content = open_image(psrc)
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
                cached = Path(args.cache) / f"{pname}-{sname}-{key}-{args.size}-{args.steps}.png".replace(" ", "_")
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
                row[key] = {"img": result, "seconds": round(seconds, 1),
                            "painted": measures.painted(result, run.output, style, found),
                            "faces": [measures.face(result, run.output, style, f) for f in found]}
            if row is None:
                continue
            rows.append(row)
            w, k = row["without"], row["with"]
            print(f"{pname} × {sname}: painted {w['painted']:.3f} → {k['painted']:.3f}; faces "
                  + ", ".join(f"eyes {a['eyes_kept']}→{b['eyes_kept']}/{a['eyes_photo']} d {a['distance']:.2f}→{b['distance']:.2f}"
                              for a, b in zip(w["faces"], k["faces"])) + f" ({w['seconds']:.0f}+{k['seconds']:.0f} s)",
                  file=sys.stderr, flush=True)
    sheets(rows, args.tag)
    table = [{"portrait": r["portrait"], "painting": r["painting"], "faces": [f.box for f in r["faces_obj"]],
              **{key: {k: v for k, v in r[key].items() if k != "img"} for key in ("without", "with")}} for r in rows]
    summary = {"settings": settings.to_dict(), "weights": {"face": nf.FACE_WEIGHT, "features": nf.FEATURE_WEIGHT},
               "machine": _machine(), "load": os.getloadavg(), "pairs": table}
    (ROOT / "bench" / f"portraits-{args.tag}.json").write_text(json.dumps(summary, indent=1))
    print("| portrait × painting | painted without | with | ratio | eyes kept without | with | face distance without | with |")
    print("| --- | --- | --- | --- | --- | --- | --- | --- |")
    for r in table:
        w, k = r["without"], r["with"]
        eyes = lambda m: ", ".join(f"{f['eyes_kept']}/{f['eyes_photo']}" for f in m["faces"]) or "–"  # noqa: E731
        dist = lambda m: ", ".join(f"{f['distance']:.2f}" for f in m["faces"]) or "–"  # noqa: E731
        print(f"| {r['portrait']} × {r['painting']} | {w['painted']:.3f} | {k['painted']:.3f} | "
              f"{k['painted'] / w['painted']:.2f} | {eyes(w)} | {eyes(k)} | {dist(w)} | {dist(k)} |")


def _machine() -> str:
    from nst.cpu import processor_name

    return processor_name()


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
        results["opencv-haar"][str(p)] = {"faces": [list(f.box) for f in found], "seconds": statistics.median(times),
                                          "cpu_seconds": statistics.median(cpu)}
    if args.mediapipe:
        done = subprocess.run([args.mediapipe, "-c", _MEDIAPIPE, *map(str, paths)], capture_output=True, text=True)
        if done.returncode:
            print(done.stderr[-2000:], file=sys.stderr)
        else:
            results["mediapipe-blazeface"] = json.loads(done.stdout.strip().splitlines()[-1])
    print(f"machine: {_machine()}; load {os.getloadavg()}")
    print("| image | truth | " + " | ".join(results) + " |\n| --- | --- | " + " | ".join("---" for _ in results) + " |")
    summary = {}
    for p in paths:
        name, n = truth[str(p)]
        cells = [f"{len(r[str(p)]['faces'])} face(s), {1000 * r[str(p)]['seconds']:.0f} ms "
                 f"({1000 * r[str(p)]['cpu_seconds']:.0f} ms CPU)" for r in results.values()]
        print(f"| {name} | {n} | " + " | ".join(cells) + " |")
    for det, r in results.items():
        found = sum(min(1, len(r[str(p)]["faces"])) for p in paths if truth[str(p)][1])
        false = sum(max(0, len(r[str(p)]["faces"]) - truth[str(p)][1]) for p in paths)
        summary[det] = {"found": found, "missed": sum(1 for p in paths if truth[str(p)][1]) - found, "false": false,
                        "median_ms": 1000 * statistics.median(x["seconds"] for x in r.values()),
                        "median_cpu_ms": 1000 * statistics.median(x["cpu_seconds"] for x in r.values())}
        print(f"{det}: found {found}, missed {summary[det]['missed']}, false {false}, "
              f"median {summary[det]['median_ms']:.0f} ms at 1024 px ({summary[det]['median_cpu_ms']:.0f} ms of CPU)")
    (ROOT / "bench" / "portraits-detectors.json").write_text(json.dumps(
        {"machine": _machine(), "load": os.getloadavg(), "summary": summary,
         "images": {truth[p][0]: {d: r[p] for d, r in results.items()} for p in map(str, paths)}}, indent=1))


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
    p.add_argument("--threads", type=int, help="torch's CPU threads (1 is fastest on a busy machine)")
    args = p.parse_args()
    if args.threads:
        torch.set_num_threads(args.threads)
        import cv2

        cv2.setNumThreads(args.threads)
    (detect if args.what == "detect" else run_pairs)(args)


if __name__ == "__main__":
    main()
