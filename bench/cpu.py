"""What nst.cpu's two settings buy: one OpenMP pool at a time, and a heap that keeps its blocks.

    python -m bench.cpu [--sizes 256:100 1024:30] [--content C --style S]

Each case is a fresh process that loads the network, warms up with a small run, then times
one run of SIZE:STEPS and reports its wall time, kernel time, minor page faults and peak
memory:

- ``defaults``: glibc's own malloc settings (``NST_KEEP_MEMORY=0``), run on the
  main thread, as a CLI is;
- ``kept heap``: nst's settings, on the main thread (the CLI now);
- ``thread, main holds a pool``: nst's settings, the run on a thread of its own while the
  main thread keeps the OpenMP workers of a parallel op it ran (an app before the fix);
- ``thread, main let go``: the same after the main thread let its workers go (the app now).

Prints a Markdown table. Timings on a shared machine are noisy: say so beside the numbers.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys

from .images import EXAMPLES, ROOT

CASES = ("defaults", "kept heap", "thread, main holds a pool", "thread, main let go")


def child(case: str, size: int, steps: int, content: str, style: str) -> None:
    import resource
    import threading
    import time

    import torch

    import nst
    from nst import cpu

    nst.load_model(nst.DEFAULT.weights, nst.DEFAULT.pooling, "cpu")  # lets go of its pool
    nst.stylize_image(content, style, size=128, steps=5)  # warm: oneDNN's kernels, the heap
    if case.startswith("thread"):
        cpu.release_threads()
        torch.ones(4_000_000).mul_(2)  # the main thread makes a pool again, as an app's loading did
        if case.endswith("let go"):
            cpu.release_threads()
    result = {}

    def run() -> None:
        r0, t = resource.getrusage(resource.RUSAGE_SELF), time.perf_counter()
        nst.stylize_image(content, style, size=size, steps=steps)
        r1 = resource.getrusage(resource.RUSAGE_SELF)
        result.update(
            seconds=time.perf_counter() - t,
            sys=r1.ru_stime - r0.ru_stime,
            faults=r1.ru_minflt - r0.ru_minflt,
            peak_mb=r1.ru_maxrss / 1024,
        )

    if case.startswith("thread"):
        th = threading.Thread(target=run)
        th.start()
        th.join()
    else:
        run()
    print(json.dumps(result))


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--sizes", nargs="+", default=["256:100", "1024:30"])
    p.add_argument("--content", default=str(EXAMPLES / "chelsea.jpg"))
    p.add_argument("--style", default=str(EXAMPLES / "starry_night.jpg"))
    p.add_argument("--child", nargs=3, help=argparse.SUPPRESS)
    a = p.parse_args()
    if a.child:
        case, size, steps = a.child
        return child(case, int(size), int(steps), a.content, a.style)
    print("| size | steps | case | seconds | kernel s | page faults | peak MB |")
    print("|---|---|---|---|---|---|---|")
    for spec in a.sizes:
        size, steps = spec.split(":")
        for case in CASES:
            env = dict(os.environ, NST_KEEP_MEMORY="0" if case == "defaults" else "1")
            out = subprocess.run(
                [
                    sys.executable,
                    "-m",
                    "bench.cpu",
                    "--content",
                    a.content,
                    "--style",
                    a.style,
                    "--child",
                    case,
                    size,
                    steps,
                ],
                capture_output=True,
                text=True,
                check=True,
                env=env,
                cwd=ROOT,
            )
            r = json.loads(out.stdout.strip().splitlines()[-1])
            print(
                f"| {size} | {steps} | {case} | {r['seconds']:.2f} | {r['sys']:.2f} | {r['faults']:,} | "
                f"{r['peak_mb']:.0f} |",
                flush=True,
            )


if __name__ == "__main__":
    main()
