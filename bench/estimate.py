"""Does the estimate hold? And what does the app cost over the CLI?

    python -m bench.estimate [--sizes 256:200 512:200 1024:30] [--repeat 2] [--content C --style S]

The app is served as it is deployed: ``python app.py`` in a process of its own (it times a
few steps at start-up, as on a Space), paused (SIGSTOP) while the CLI and the engine run, as
an idle server would take ~5% of a core from them. For each SIZE:STEPS, on the same images,
``--repeat`` times, alternating:
1. ``python -m nst ... --dry-run``: its last line, ``estimated seconds: N``, for the command;
2. the same command for real, timed from outside (wall time of the process);
3. the app: its ``/estimate`` (the line the page shows under Run), then ``/stylize`` with the
   same settings, timed from submit to the result, fetching each preview as a browser does;
   also the time to the first preview;
4. the engine alone in this process (``nst.stylize_image``: the CLI's run without Python's
   start-up and the weights' loading).

Beside each wall time, the CPU seconds it took (user + system): of the CLI process, of the
app's server process while it ran /stylize, of this bench's client meanwhile (it runs on
the same cores, where a browser would not), and of the engine alone. The app's CPU over the
CLI's says what the server adds by its own work; wall time over CPU time says what waiting
(for cores others took, or for locks) adds.

Prints a table (Markdown, medians of the repeats) and writes bench/records/estimate-<machine>.json.
Timings on a shared machine are noisy: say so beside the numbers.

    python -m bench.estimate --limits 256:6 512:10 [--repeat 3]

checks time limits and the dry run instead (no app): ``python -m nst ... --dry-run`` at
512 px as a whole process once the machine's calibration is cached (after one dry run that
makes it), then for each SIZE:SECONDS the command ``python -m nst C S --size SIZE
--time-limit SECONDS`` timed from outside: its wall time against the limit, the line that
says what the limit cut, and whether the result is painted (the reference style distance,
bench/quality.py's ``Judge``:
1 is the photo's Gram statistics, 0 the painting's; "painted" when it has come at least
half the way from the photo to the distance of the same command without a limit). It
writes bench/records/limits-<machine>.json.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import resource
import signal
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from .images import EXAMPLES, ROOT, RECORDS, in_folder
from .machine import describe, tag
from .server import serve


def cli(args: list[str]) -> tuple[float, str]:
    t = time.perf_counter()
    proc = subprocess.run([sys.executable, "-m", "nst", *args], cwd=ROOT, capture_output=True, text=True)
    if proc.returncode:
        raise SystemExit(proc.stderr)
    return time.perf_counter() - t, proc.stdout


def children_cpu() -> float:
    """CPU seconds (user + system) of the finished child processes so far."""
    r = resource.getrusage(resource.RUSAGE_CHILDREN)
    return r.ru_utime + r.ru_stime


def process_cpu(pid: int) -> float:
    """CPU seconds (user + system) of a running process so far, from /proc."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


@contextmanager
def paused(proc: subprocess.Popen) -> Iterator[None]:
    """The server stopped for a while: Gradio's queue polls even when idle."""
    proc.send_signal(signal.SIGSTOP)
    try:
        yield
    finally:
        proc.send_signal(signal.SIGCONT)


def seconds_in(text: str) -> float:
    """The seconds in nst's 'about 1 min 05 s' (nst.schedule.format_seconds, inverted)."""
    units = {"h": 3600, "min": 60, "s": 1}
    found = re.findall(r"(\d+) (h|min|s)\b", text.split("about", 1)[1])
    return float(sum(int(n) * units[u] for n, u in found))


def app_run(client, http, content: str, style: str, size: int, steps: int) -> dict:
    """One /stylize run, its previews fetched as the page fetches them; seconds to the end and to the first."""
    from gradio_client import handle_file

    t = time.perf_counter()
    job = client.submit(
        content=handle_file(content), style=handle_file(style), steps=steps, size=size, api_name="/stylize"
    )
    first, fetched = None, set()
    while True:
        done = job.done()
        for out in job.outputs():
            image = out[0]
            if isinstance(image, dict) and image.get("url") and image["url"] not in fetched:
                fetched.add(image["url"])
                http.get(image["url"]).raise_for_status()
                first = first or time.perf_counter() - t
        if done:
            break
        # A browser polls nothing (the server pushes); this client's loop runs on the
        # server's machine, so it looks as often as the app yields (0.5 s), not more.
        time.sleep(0.1)
    last = job.outputs()[-1]
    assert last[1].startswith("**Done**"), last[1]
    for image in last[3] or ():  # the before/after slider's pair, as the page shows it
        if isinstance(image, dict) and image.get("url"):
            http.get(image["url"]).raise_for_status()
    return {"real": time.perf_counter() - t, "first": first, "images": len(fetched)}


def limits(a: argparse.Namespace) -> None:
    """The dry run and the time limits as a user meets them: whole processes, timed from outside."""
    from .quality import Judge

    load = lambda: os.getloadavg()[0]  # noqa: E731
    folder = Path(tempfile.mkdtemp(prefix="nst-limits-"))
    cli([a.content, a.style, "--size", "512", "--dry-run"])  # makes the machine's calibration cache, if none
    dry = []
    for _ in range(a.repeat):
        seconds, out = cli([a.content, a.style, "--size", "512", "--dry-run"])
        dry.append({"wall_s": seconds, "estimate": out.strip().splitlines()[-1], "load": load()})
        print(json.dumps({"dry_run_512": dry[-1]}), flush=True)
    rows = []
    for spec in a.limits:
        size, limit = spec.split(":")
        judge = Judge(Path(a.content), Path(a.style), int(size))
        # The yardstick: the same command without a limit (its default plan). A cut run is
        # "painted" when it has come at least half the way from the photo (style distance 1)
        # to where the whole run gets (an upsampled small run lacks the fine strokes a full
        # one has, so "near the painting" would be too strict a bar for any cut run).
        whole = folder / f"whole-{size}.png"
        cli([a.content, a.style, "--size", size, "-o", str(whole)])
        full = judge(whole)["style_distance"]
        runs = []
        for i in range(a.repeat):
            out = folder / f"limit-{size}-{i}.png"
            t = time.perf_counter()
            proc = subprocess.run(
                [
                    sys.executable,
                    "-m",
                    "nst",
                    a.content,
                    a.style,
                    "--size",
                    size,
                    "--time-limit",
                    limit,
                    "-o",
                    str(out),
                ],
                cwd=ROOT,
                capture_output=True,
                text=True,
            )
            wall = time.perf_counter() - t
            if proc.returncode:
                raise SystemExit(proc.stderr)
            said = [line for line in proc.stderr.replace("\r", "\n").splitlines() if line.startswith("nst: time limit")]
            runs.append(
                {
                    "wall_s": wall,
                    "said": said,
                    "last_line": proc.stderr.strip().splitlines()[-1],
                    **judge(out),
                    "load": load(),
                    "image": str(out),
                }
            )
            print(json.dumps({"size": int(size), "limit_s": float(limit), **runs[-1]}), flush=True)
        rows.append(
            {
                "size": int(size),
                "limit_s": float(limit),
                "runs": runs,
                "whole_run_style_distance": full,
                "painted_below": (1 + full) / 2,
                "wall_s": statistics.median(r["wall_s"] for r in runs),
            }
        )
    print("\n| check | figure (median) | target | runs |")
    print("|---|---|---|---|")
    walls = [d["wall_s"] for d in dry]
    print(
        f"| `--dry-run` at 512 px, cached | {statistics.median(walls):.2f} s | < 5 s | "
        f"{', '.join(f'{w:.2f}' for w in walls)} |"
    )
    for r in rows:
        painted = sum(x["style_distance"] <= r["painted_below"] for x in r["runs"])
        said = r["runs"][-1]["said"][-1] if r["runs"][-1]["said"] else "(nothing)"
        each = ", ".join(f"{x['wall_s']:.2f}" for x in r["runs"])
        dists = ", ".join(f"{x['style_distance']:.2f}" for x in r["runs"])
        print(
            f"| `--size {r['size']} --time-limit {r['limit_s']:g}` | {r['wall_s']:.2f} s, painted {painted}/"
            f"{len(r['runs'])} (style distance {dists}; whole run {r['whole_run_style_distance']:.2f}, painted "
            f"≤ {r['painted_below']:.2f}), said: {said} | ≤ {1.15 * r['limit_s']:.1f} s | {each} |"
        )
    out = Path(a.out or in_folder(RECORDS, f"limits-{tag()}.json"))
    out.write_text(
        json.dumps({"machine": describe(), "dry_run_512": dry, "limits": rows, "images": str(folder)}, indent=1)
    )


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--sizes", nargs="+", default=["256:200", "512:200", "1024:30"])
    p.add_argument("--repeat", type=int, default=2)
    p.add_argument("--content", default=str(EXAMPLES / "chelsea.jpg"))
    p.add_argument("--style", default=str(EXAMPLES / "starry_night.jpg"))
    p.add_argument(
        "--out",
        default=None,
        help="the JSON record (default: bench/records/estimate-<machine>.json, with --limits limits-<machine>.json)",
    )
    p.add_argument(
        "--limits",
        nargs="+",
        default=None,
        metavar="SIZE:SECONDS",
        help="check the dry run and these time limits (whole commands) instead of the app",
    )
    a = p.parse_args()
    if a.limits:
        return limits(a)
    import httpx
    from gradio_client import Client, handle_file

    import nst

    out_png = str(Path(tempfile.mkdtemp(prefix="nst-bench-")) / "bench.png")
    rows = []
    tmp = Path(tempfile.mkdtemp(prefix="nst-estimate-"))
    with serve(tmp) as (url, server), httpx.Client() as http:
        client = Client(url, verbose=False, download_files=False)
        app_run(client, http, a.content, a.style, 128, 4)  # warm: a server that has served before
        for spec in a.sizes:
            size, steps = map(int, spec.split(":"))
            opts = [a.content, a.style, "--size", str(size), "--steps", str(steps)]
            runs = []
            for _ in range(a.repeat):
                with paused(server):
                    _, dry = cli([*opts, "--dry-run"])
                    cli_est = float(dry.strip().splitlines()[-1].split(": ")[1])
                    c0 = children_cpu()
                    cli_real, _ = cli([*opts, "-o", out_png])
                    cli_cpu = children_cpu() - c0
                text = client.predict(content=handle_file(a.content), steps=steps, size=size, api_name="/estimate")
                s0, b0 = process_cpu(server.pid), time.process_time()
                app = app_run(client, http, a.content, a.style, size, steps)
                app_cpu, bench_cpu = process_cpu(server.pid) - s0, time.process_time() - b0
                with paused(server):
                    t, e0 = time.perf_counter(), time.process_time()
                    nst.stylize_image(a.content, a.style, size=size, steps=steps)
                    engine, engine_cpu = time.perf_counter() - t, time.process_time() - e0
                runs.append(
                    {
                        "cli_estimate_s": cli_est,
                        "cli_real_s": cli_real,
                        "app_text": text,
                        "app_estimate_s": seconds_in(text),
                        "app_real_s": app["real"],
                        "first_preview_s": app["first"],
                        "previews": app["images"] - 1,
                        "engine_s": engine,
                        "cli_cpu_s": cli_cpu,
                        "app_cpu_s": app_cpu,
                        "client_cpu_s": bench_cpu,
                        "engine_cpu_s": engine_cpu,
                    }
                )
                print(json.dumps({"size": size, "steps": steps, **runs[-1]}), flush=True)
            med = {k: statistics.median(r[k] for r in runs) for k in runs[0] if k != "app_text"}
            rows.append({"size": size, "steps": steps, **med, "app_text": runs[-1]["app_text"], "runs": runs})
        client.close()
    print(
        "\n| size | steps | CLI est. | CLI real | err | app est. | app real | err | engine | app / CLI "
        "| first preview | CPU s: CLI, app, client, engine |"
    )
    print("|---|---|---|---|---|---|---|---|---|---|---|---|")
    for r in rows:
        e1 = r["cli_estimate_s"] / r["cli_real_s"] - 1
        e2 = r["app_estimate_s"] / r["app_real_s"] - 1
        print(
            f"| {r['size']} | {r['steps']} | {r['cli_estimate_s']:.0f} s | {r['cli_real_s']:.1f} s | {e1:+.0%} | "
            f"{r['app_estimate_s']:.0f} s | {r['app_real_s']:.1f} s | {e2:+.0%} | {r['engine_s']:.1f} s | "
            f"{r['app_real_s'] / r['cli_real_s']:.2f}× | {r['first_preview_s']:.1f} s | "
            f"{r['cli_cpu_s']:.0f}, {r['app_cpu_s']:.0f}, {r['client_cpu_s']:.1f}, {r['engine_cpu_s']:.0f} |"
        )
    out = Path(a.out or in_folder(RECORDS, f"estimate-{tag()}.json"))
    out.write_text(json.dumps({"machine": describe(), "repeat": a.repeat, "rows": rows}, indent=1))


if __name__ == "__main__":
    main()
