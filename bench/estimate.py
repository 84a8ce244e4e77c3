"""Does the estimate hold? And what does the app cost over the CLI?

    python bench/estimate.py [--sizes 256:200 512:200 1024:30] [--content C --style S]

For each SIZE:STEPS, on the same images:
1. ``python -m nst ... --dry-run``: its last line, ``estimated seconds: N``, for the command;
2. the same command for real, timed from outside (wall time of the process);
3. the engine alone in this warm process (``nst.stylize_image``: the CLI's run without
   Python's start-up and the weights' loading);
4. the app (app.py served in this process), warm: nst's estimate as the page shows it
   (``estimate_text``'s number), then ``/stylize`` through gradio_client with the same
   settings, timed from submit to the result; also the time to the first preview.

Prints a table (Markdown) and writes bench/estimate-<machine>.json. Timings on a shared
machine are noisy: say so beside the numbers.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
IMAGES = ROOT / "examples"


def cli(args: list[str]) -> tuple[float, str]:
    t = time.perf_counter()
    proc = subprocess.run([sys.executable, "-m", "nst", *args], cwd=ROOT, capture_output=True, text=True)
    if proc.returncode:
        raise SystemExit(proc.stderr)
    return time.perf_counter() - t, proc.stdout


def main() -> None:
    p = argparse.ArgumentParser()
    p.add_argument("--sizes", nargs="+", default=["256:200", "512:200", "1024:30"])
    p.add_argument("--content", default=str(IMAGES / "chelsea.jpg"))
    p.add_argument("--style", default=str(IMAGES / "starry_night.jpg"))
    p.add_argument("--out", default=None)
    a = p.parse_args()
    rows = []
    import tests.app_server as server  # sets Gradio's folders before app is imported

    from gradio_client import Client, handle_file

    import app
    import nst

    with server.served() as url:
        client = Client(url, verbose=False)
        # Warm: one small run, as a server that has served before.
        client.predict(content=handle_file(a.content), style=handle_file(a.style), steps=4, size=128,
                       api_name="/stylize")
        for spec in a.sizes:
            size, steps = map(int, spec.split(":"))
            opts = [a.content, a.style, "--size", str(size), "--steps", str(steps)]
            _, dry = cli([*opts, "--dry-run"])
            est_cli = float(dry.strip().splitlines()[-1].split(": ")[1])
            real_cli, _ = cli([*opts, "-o", str(Path(os.environ["GRADIO_TEMP_DIR"]) / "bench.png")])
            # The engine alone, in this (warm) process: the CLI's run without its start-up.
            t = time.perf_counter()
            nst.stylize_image(a.content, a.style, size=size, steps=steps)
            engine = time.perf_counter() - t
            s = nst.DEFAULT.replace(size=size, steps=steps)
            est_app = nst.prepare(a.content, a.content, s).estimate(calibrated=False)  # as estimate_text
            text = app.estimate_text(a.content, steps, size)
            t = time.perf_counter()
            job = client.submit(content=handle_file(a.content), style=handle_file(a.style), steps=steps, size=size,
                                api_name="/stylize")
            first = None
            while not job.done():
                if first is None and any(isinstance(o[0], str) for o in job.outputs()):
                    first = time.perf_counter() - t
                time.sleep(0.05)
            real_app = time.perf_counter() - t
            status = job.outputs()[-1][1]
            assert status.startswith("**Done**"), status
            row = {"size": size, "steps": steps, "cli_estimate_s": est_cli, "cli_real_s": real_cli,
                   "engine_s": engine, "app_estimate_s": est_app, "app_text": text, "app_real_s": real_app, "first_preview_s": first}
            rows.append(row)
            print(json.dumps(row), flush=True)
        client.close()
    print("\n| size | steps | CLI est. | CLI real | err | app est. | app real | err | engine | app / engine "
          "| app / CLI | first preview |")
    print("|---|---|---|---|---|---|---|---|---|---|---|---|")
    for r in rows:
        e1 = r["cli_estimate_s"] / r["cli_real_s"] - 1
        e2 = r["app_estimate_s"] / r["app_real_s"] - 1
        print(f"| {r['size']} | {r['steps']} | {r['cli_estimate_s']:.0f} s | {r['cli_real_s']:.1f} s | {e1:+.0%} | "
              f"{r['app_estimate_s']:.0f} s | {r['app_real_s']:.1f} s | {e2:+.0%} | {r['engine_s']:.1f} s | "
              f"{r['app_real_s'] / r['engine_s']:.2f}× | {r['app_real_s'] / r['cli_real_s']:.2f}× | "
              f"{r['first_preview_s']:.1f} s |")
    out = Path(a.out or ROOT / "bench" / f"estimate-{platform.node() or 'machine'}.json")
    out.write_text(json.dumps({"machine": platform.processor() or platform.machine(), "rows": rows}, indent=1))


if __name__ == "__main__":
    main()
