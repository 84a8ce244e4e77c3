"""Benchmark nst against pastiche on the shared image pairs, in one run.

    python bench/bench.py                       # tubingen × starry_night at 512 px
    python bench/bench.py --pairs tubingen:starry_night hoovertowernight:shipwreck

Both tools run as subprocesses, so wall time includes their start-up and peak RSS is
their own. Quality is measured here with the embedded Caffe VGG19 (max pooling) at the
output's size:

- content distance: MSE of relu4_2 features against the content image, divided by the
  same for the style image resized to the output (0 = perfect, 1 = no closer than the style);
- style distance: Σ over relu1_1…relu5_1 of ‖Gram/(C·H·W) difference‖²_F against the
  style image, divided by the same for the content image.

nst runs with its defaults (steps capped at 1000) and a time limit of a quarter of pastiche's wall time (less
its own start-up), then pastiche runs again for the wall time nst took: the side-by-side
image shows the two at equal time. Writes bench/results/<pair>.json and .png.
"""

from __future__ import annotations

import argparse
import json
import statistics
import subprocess
import sys
import threading
import time
from pathlib import Path

import psutil
import torch
from PIL import Image, ImageDraw

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

import nst  # noqa: E402
from nst.images import resize_to_long_side, resize_to_pixels, to_tensor  # noqa: E402
from nst.losses import gram_matrix  # noqa: E402

IMAGES = ROOT.parent / "shared" / "images"
STYLE_LAYERS = ["relu1_1", "relu2_1", "relu3_1", "relu4_1", "relu5_1"]


def run_measured(cmd: list[str]) -> dict:
    """Run ``cmd``; return its wall time and the peak RSS of it and its children."""
    t0 = time.perf_counter()
    proc = psutil.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, cwd=ROOT)
    peak = 0
    done = threading.Event()

    def poll() -> None:
        nonlocal peak
        while not done.is_set():
            try:
                rss = proc.memory_info().rss + sum(c.memory_info().rss for c in proc.children(recursive=True))
                peak = max(peak, rss)
            except psutil.Error:
                pass
            time.sleep(0.05)

    thread = threading.Thread(target=poll, daemon=True)
    thread.start()
    _, err = proc.communicate()
    done.set()
    thread.join()
    if proc.returncode != 0:
        raise RuntimeError(f"{' '.join(cmd)} failed:\n{err.decode()[-2000:]}")
    return {"wall_s": time.perf_counter() - t0, "peak_rss_mb": peak / 2**20}


class Judge:
    """Reference quality of an output against its content and style images."""

    def __init__(self, content: Path, style: Path, size: int) -> None:
        self.model = nst.load_model("embedded", "max", "cpu").truncated("relu5_1")
        self.content = resize_to_long_side(nst.load_image(content), size)
        n = self.content.width * self.content.height
        self.style = resize_to_pixels(nst.load_image(style), n)
        self.style_same_shape = nst.load_image(style).resize(self.content.size, Image.Resampling.LANCZOS)
        self.c = self._features(self.content)
        self.s = self._features(self.style)
        self.s_shaped = self._features(self.style_same_shape)

    @torch.no_grad()
    def _features(self, img: Image.Image) -> dict[str, torch.Tensor]:
        feats = self.model(to_tensor(img), ["relu4_2", *STYLE_LAYERS])
        out = {"relu4_2": feats["relu4_2"]}
        for layer in STYLE_LAYERS:
            a = feats[layer]
            out[layer] = gram_matrix(a) / a[0].numel()
        return out

    def __call__(self, path: Path) -> dict:
        img = Image.open(path).convert("RGB")
        if img.size != self.content.size:
            img = img.resize(self.content.size, Image.Resampling.LANCZOS)
        o = self._features(img)
        mse = lambda a, b: float((a - b).pow(2).mean())  # noqa: E731
        content = mse(o["relu4_2"], self.c["relu4_2"]) / mse(self.s_shaped["relu4_2"], self.c["relu4_2"])
        sq = lambda x: sum(float((x[l] - self.s[l]).pow(2).sum()) for l in STYLE_LAYERS)  # noqa: E731
        style = sq(o) / sq(self.c)
        return {"content_distance": content, "style_distance": style, "quality": content + style}


def flops_per_step(width: int, height: int) -> float:
    """FLOPs of VGG19 up to conv5_1, forward plus backward to the input (about 2× forward)."""
    total, h, w, cin = 0.0, height, width, 3
    for name in nst.LAYER_NAMES:
        if name.startswith("conv"):
            cout = nst.vgg.channels(name)
            total += 2 * h * w * cin * cout * 9
            cin = cout
        elif name.startswith("pool"):
            h, w = h // 2, w // 2
        if name == "conv5_1":
            break
    return 2 * total


def matmul_peak(dtype: torch.dtype) -> float:
    a, b = torch.randn(3072, 4608, dtype=dtype), torch.randn(4608, 512, dtype=dtype)
    a @ b
    best = float("inf")
    for _ in range(5):
        t = time.perf_counter()
        a @ b
        best = min(best, time.perf_counter() - t)
    return 2 * 3072 * 4608 * 512 / best


def step_time(content: Path, style: Path, size: int, amp: torch.dtype | None, repeats: int = 7) -> tuple[float, tuple[int, int]]:
    """Median seconds of one full-size step of nst's own objective (forward to relu5_1,
    the content and Gram costs, backward to the pixels), and the image's (width, height)."""
    from nst.objective import Objective

    s = nst.Settings(size=size)
    c = to_tensor(resize_to_long_side(nst.load_image(content), size))
    st = to_tensor(resize_to_pixels(nst.load_image(style), c.shape[-1] * c.shape[-2]))
    objective = Objective(nst.load_model().truncated("relu5_1"), s, c, [st], [1.0], amp, torch.Generator())
    x = c.clone().requires_grad_(True)
    times = []
    for _ in range(repeats + 1):
        x.grad = None
        t = time.perf_counter()
        objective(x)[0].backward()
        times.append(time.perf_counter() - t)
    return statistics.median(times[1:]), (c.shape[-1], c.shape[-2])


def side_by_side(left: Path, right: Path, labels: tuple[str, str], out: Path) -> None:
    a, b = Image.open(left).convert("RGB"), Image.open(right).convert("RGB")
    b = b.resize(a.size)
    sheet = Image.new("RGB", (a.width * 2 + 8, a.height + 28), "white")
    sheet.paste(a, (0, 28))
    sheet.paste(b, (a.width + 8, 28))
    draw = ImageDraw.Draw(sheet)
    draw.text((6, 8), labels[0], fill="black")
    draw.text((a.width + 14, 8), labels[1], fill="black")
    sheet.save(out)


def bench_pair(content: str, style: str, size: int, pastiche_steps: int, out_dir: Path) -> dict:
    c, s = IMAGES / f"{content}.jpg", IMAGES / f"{style}.jpg"
    name = f"{content}-{style}"
    judge = Judge(c, s, size)
    py = sys.executable
    res: dict = {"pair": name, "size": size}

    p_out = out_dir / f"{name}-pastiche.png"
    p_cmd = [py, "-m", "pastiche", "--content", str(c), "--styles", str(s), "--output", str(p_out),
             "--size", str(size), "--num-steps", str(pastiche_steps), "--no-verbose", "--seed", "0"]
    res["pastiche"] = {**run_measured(p_cmd), "steps": pastiche_steps, **judge(p_out)}
    print(f"pastiche {pastiche_steps} steps: {res['pastiche']}", flush=True)

    startup = run_measured([py, "-c", "import nst, torch; nst.load_model()"])["wall_s"]
    budget = 0.25 * res["pastiche"]["wall_s"] - startup
    n_out = out_dir / f"{name}-nst.png"
    # Steps are only a cap here: the time limit decides how many fit.
    n_cmd = [py, "-m", "nst", str(c), str(s), "-o", str(n_out), "--size", str(size),
             "--steps", "1000", "--time-limit", f"{budget:.1f}"]
    res["nst"] = {**run_measured(n_cmd), "time_limit_s": budget, **judge(n_out)}
    print(f"nst (time limit {budget:.1f} s): {res['nst']}", flush=True)

    # pastiche again, for as long as nst took.
    eq_steps = max(1, round(pastiche_steps * res["nst"]["wall_s"] / res["pastiche"]["wall_s"]))
    pe_out = out_dir / f"{name}-pastiche-equal-time.png"
    pe_cmd = p_cmd[:]
    pe_cmd[pe_cmd.index("--num-steps") + 1] = str(eq_steps)
    pe_cmd[pe_cmd.index("--output") + 1] = str(pe_out)
    res["pastiche_equal_time"] = {**run_measured(pe_cmd), "steps": eq_steps, **judge(pe_out)}
    print(f"pastiche {eq_steps} steps: {res['pastiche_equal_time']}", flush=True)
    side_by_side(
        n_out, pe_out,
        (f"nst, {res['nst']['wall_s']:.0f} s", f"pastiche, {res['pastiche_equal_time']['wall_s']:.0f} s "
         f"({eq_steps} steps)"),
        out_dir / f"{name}-equal-time.png",
    )
    return res


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--pairs", nargs="+", default=["tubingen:starry_night"])
    parser.add_argument("--size", type=int, default=512)
    parser.add_argument("--pastiche-steps", type=int, default=100)
    parser.add_argument("--out", type=Path, default=ROOT / "bench" / "results")
    args = parser.parse_args()
    args.out.mkdir(parents=True, exist_ok=True)

    amp = nst.device.autocast_dtype("auto", torch.device("cpu"))
    peaks = {"fp32": matmul_peak(torch.float32), "bf16": matmul_peak(torch.bfloat16)}
    first = args.pairs[0].split(":")
    t_step, (w, h) = step_time(IMAGES / f"{first[0]}.jpg", IMAGES / f"{first[1]}.jpg", args.size, amp)
    flops = flops_per_step(w, h)
    used = "bf16" if amp is not None else "fp32"
    compute = {
        "size": [w, h], "gflop_per_step": flops / 1e9, "precision_used": used,
        "seconds_per_step": t_step,
        "matmul_gflops": {k: v / 1e9 for k, v in peaks.items()},
        "compute_limit_ratio": {k: t_step / (flops / v) for k, v in peaks.items()},
    }
    print(json.dumps({"compute": compute}, indent=1), flush=True)

    results = {"machine": machine(), "compute": compute, "pairs": []}
    for pair in args.pairs:
        content, style = pair.split(":")
        results["pairs"].append(bench_pair(content, style, args.size, args.pastiche_steps, args.out))
    for r in results["pairs"]:
        p, n = r["pastiche"], r["nst"]
        r["targets"] = {
            "quality_at_least_pastiche": n["quality"] <= p["quality"],
            "time_at_most_25pct": n["wall_s"] <= 0.25 * p["wall_s"],
            "peak_rss_below_1GB": n["peak_rss_mb"] <= 1024,
        }
    (args.out / "results.json").write_text(json.dumps(results, indent=1))
    print(json.dumps(results, indent=1))


def machine() -> str:
    import platform

    cpu = "unknown CPU"
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    return f"{cpu}, {psutil.cpu_count()} cores, {platform.system()}, torch {torch.__version__}"


if __name__ == "__main__":
    main()
