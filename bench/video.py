"""Video: the consistent method (nst.stylize_video) against the same frames styled one by one.

    nice -n 5 python -m bench.video [--size 96 --duration 1.0 --fps 6 --steps 40 --frame-steps 15]

Measured on the shared clip (``../shared/videos/big_buck_bunny.mp4``):

- temporal error: the *source's* flow (DIS, backward and forward, with Ruder et al.'s
  consistency mask) warps result t−1 onto frame t; the mean absolute difference (0–1 RGB)
  from result t on the consistent pixels, averaged over the frames; the source's own
  (the same on the source frames) for scale;
- the pairs' style and content distances of every frame (:func:`bench.quality.pair_distances`);
- seconds per frame on this machine (the first frame, which takes the full plan, apart);
- the flow methods (DIS, Farneback) on the source: seconds per pair, the share of pixels
  found consistent, and the warp error of the source on them.

Frame-by-frame styling runs ``steps`` on every frame from the content, as a photo; its first
frame is the consistent method's first (the same run). Writes ``bench/records/video-<tag>.json``
and ``docs/images/video-strip.png`` (rows: source, consistent, frame by frame).
``--memory``: the peak memory of a 10 s clip against a 2 s clip (``video-memory-<tag>.json``).
"""

from __future__ import annotations

import argparse
import json
import statistics
import time
from pathlib import Path

import numpy as np
from PIL import Image

import nst
from bench import machine, quality, sheets
from bench.images import EXAMPLES, PICTURES, RECORDS, ROOT, SCRATCH, in_folder, output_options
from nst import flow as fl
from nst import videoio

CLIP = ROOT.parent / "shared" / "videos" / "big_buck_bunny.mp4"


def temporal_error(frames: list[Image.Image], source: list[Image.Image]) -> float:
    """Mean over t ≥ 1 of mean |frames[t] − warp(frames[t−1])| on the source flow's consistent pixels."""
    errors = []
    for t in range(1, len(frames)):
        a, b = fl.grey(source[t - 1]), fl.grey(source[t])
        back, fwd = fl.flow(b, a), fl.flow(a, b)
        mask = fl.consistency(back, fwd)[..., None]
        prev = np.asarray(frames[t - 1], np.float32) / 255
        now = np.asarray(frames[t], np.float32) / 255
        diff = np.abs(now - fl.warp(prev, back))
        errors.append(float((mask * diff).sum() / max(mask.sum() * 3, 1)))
    return statistics.mean(errors)


def flow_methods(source: list[Image.Image]) -> dict[str, dict[str, float]]:
    """Each flow method on the source's consecutive pairs: seconds, consistent share, warp error."""
    out = {}
    for method in fl.FLOW_METHODS:
        seconds, share, err = [], [], []
        for t in range(1, len(source)):
            a, b = fl.grey(source[t - 1]), fl.grey(source[t])
            t0 = time.perf_counter()
            back, fwd = fl.flow(b, a, method), fl.flow(a, b, method)
            seconds.append((time.perf_counter() - t0) / 2)
            mask = fl.consistency(back, fwd)
            diff = np.abs(np.asarray(source[t], np.float32) - fl.warp(np.asarray(source[t - 1], np.float32), back))
            share.append(float(mask.mean()))
            err.append(float((mask[..., None] * diff).sum() / max(mask.sum() * 3, 1) / 255))
        out[method] = {
            "seconds_per_flow": statistics.mean(seconds),
            "consistent_share": statistics.mean(share),
            "warp_error": statistics.mean(err),
        }
    return out


def peak_rss(seconds: float, folder: Path) -> float:
    """Peak resident memory (MB) of a fresh process styling a ``seconds``-long synthetic clip
    (128×96 at 10 fps, taken at 5 fps, 64 px, 2 steps then 1 per frame)."""
    import subprocess
    import sys

    code = (
        "import resource, sys; from pathlib import Path; import nst; from bench import clips; "
        f"c = clips.write_clip(Path({str(folder)!r}) / 'm{seconds:g}.mp4', {round(seconds * 10)}, (128, 96), 10); "
        f"[e for e in nst.stylize_video(c, {str(EXAMPLES / 'starry_night.jpg')!r}, Path({str(folder)!r}) / 'o{seconds:g}.mp4', "
        "fps=5, size=64, steps=2, frame_steps=1, keep_faces=False)]; "
        "print(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024)"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True, cwd=ROOT)
    return float(out.stdout.strip().splitlines()[-1])


def memory(records: Path) -> None:
    """``--memory``: peak memory of a 10 s clip against a 2 s clip at the same size."""
    SCRATCH.mkdir(parents=True, exist_ok=True)
    peaks = {f"{s:g}s": peak_rss(s, SCRATCH) for s in (2.0, 10.0)}
    record = {"machine": machine.describe(), "peak_rss_mb": peaks, "ratio": peaks["10s"] / peaks["2s"]}
    out = in_folder(records, f"video-memory-{machine.tag()}.json")
    out.write_text(json.dumps(record, indent=2) + "\n")
    print(json.dumps(record, indent=2))


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--memory", action="store_true", help="only the peak memory of a 10 s clip against a 2 s clip")
    p.add_argument("--clip", type=Path, default=CLIP)
    p.add_argument("--style", type=Path, default=EXAMPLES / "starry_night.jpg")
    p.add_argument("--size", type=int, default=96)
    p.add_argument("--start", type=float, default=1.0)
    p.add_argument("--duration", type=float, default=1.0)
    p.add_argument("--fps", type=float, default=6.0)
    p.add_argument("--steps", type=int, default=40)
    p.add_argument("--frame-steps", type=int, default=15)
    p.add_argument("--temporal-weight", type=float, default=nst.DEFAULT.temporal_weight)
    output_options(p)
    args = p.parse_args()
    if args.memory:
        memory(args.records or RECORDS)
        return
    settings = dict(size=args.size, steps=args.steps, frame_steps=args.frame_steps)
    settings["temporal_weight"] = args.temporal_weight
    SCRATCH.mkdir(parents=True, exist_ok=True)

    # The consistent method, as the API runs it.
    run = nst.prepare_video(args.clip, args.style, fps=args.fps, start=args.start, duration=args.duration, **settings)
    consistent: list[Image.Image] = []
    stamps = [time.perf_counter()]
    for event in run.events(SCRATCH / "video-consistent.mp4"):
        if event.image is not None:
            consistent.append(event.image)
            stamps.append(time.perf_counter())
            print(f"consistent: frame {event.frame} of {event.frames}", flush=True)
    per_frame = np.diff(stamps)
    wh = consistent[0].size
    source = [f.resize(wh, Image.Resampling.LANCZOS) for f in videoio.frames(args.clip, run.info, run.times)]

    # The same frames one by one, each from the content with the full plan.
    by_frame = [consistent[0]]
    alone = []
    for i, frame in enumerate(videoio.frames(args.clip, run.info, run.times)):
        if i == 0:
            continue
        t0 = time.perf_counter()
        by_frame.append(nst.stylize_image(frame, args.style, size=args.size, steps=args.steps))
        alone.append(time.perf_counter() - t0)
        print(f"frame by frame: frame {i + 1} of {run.frame_count}", flush=True)

    style = Image.open(args.style).convert("RGB")
    methods = {}
    for name, frames in (("consistent", consistent), ("frame_by_frame", by_frame)):
        d = [quality.pair_distances(f, s, style) for f, s in zip(frames, source)]
        methods[name] = {
            "temporal_error": temporal_error(frames, source),
            "style_distance": statistics.mean(x["style"] for x in d),
            "content_distance": statistics.mean(x["content"] for x in d),
        }
    methods["consistent"]["seconds_first_frame"] = float(per_frame[0])
    methods["consistent"]["seconds_per_later_frame"] = float(np.mean(per_frame[1:]))
    methods["frame_by_frame"]["seconds_per_frame"] = float(np.mean(alone))
    record = {
        "machine": machine.describe(),
        "clip": args.clip.name,
        "frames": run.frame_count,
        "size": list(wh),
        "args": {k: (str(v) if isinstance(v, Path) else v) for k, v in vars(args).items()},
        "source_temporal_error": temporal_error(source, source),
        "methods": methods,
        "flow": flow_methods(source),
    }
    c, f = methods["consistent"], methods["frame_by_frame"]
    record["done"] = {
        "temporal_error_at_most_half": c["temporal_error"] <= 0.5 * f["temporal_error"],
        "style_distance_within_10_percent": abs(c["style_distance"] - f["style_distance"]) <= 0.1 * f["style_distance"],
    }
    out = in_folder(args.records or RECORDS, f"video-{machine.tag()}.json")
    out.write_text(json.dumps(record, indent=2) + "\n")
    print(json.dumps(record, indent=2))

    picks = sorted({round(i * (len(source) - 1) / 4) for i in range(5)})
    rows = [
        (label, [(f"frame {i + 1}", frames[i]) for i in picks])
        for label, frames in (
            ("source", source),
            (f"consistent (temporal error {c['temporal_error']:.4f})", consistent),
            (f"frame by frame (temporal error {f['temporal_error']:.4f})", by_frame),
        )
    ]
    strip = sheets.grid(rows, title=18, label=16)
    strip.save(in_folder(args.pictures or PICTURES, "video-strip.png"))
    print(f"wrote {out} and the strip")


if __name__ == "__main__":
    main()
