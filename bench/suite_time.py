"""Time test files in two checkouts of nst, interleaved: how much faster the suite got.

    python -m bench.suite_time --before ../nst-before --after . --repeat 3 tests/test_cli.py tests/test_images.py

Each round runs ``python -m pytest -q -p no:cacheprovider FILES`` in the ``before`` checkout,
then in the ``after`` one (then the other way round, alternately), and records the wall time,
the exit status, the test count and the load average. It prints the medians and writes
``bench/records/suite-time-DATE.json``. Run it on an idle machine for figures that mean
something; with ``--whole`` it times the whole suite. Each checkout runs with its own extra
pytest options: the README's command since pytest-xdist is ``--after-args="-n 2"``

    python -m bench.suite_time --before ../nst-before --after . --after-args="-n 2" --repeat 2 --whole
"""

from __future__ import annotations

import argparse
import json
import os
import re
import statistics
import subprocess
import sys
import time
from pathlib import Path

from .images import in_folder, output_options
from .machine import cpu_name


def _run(checkout: Path, files: list[str], extra: list[str]) -> dict:
    load = os.getloadavg()[0]
    t = time.perf_counter()
    proc = subprocess.run(
        [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", *extra, *files],
        cwd=checkout,
        capture_output=True,
        text=True,
    )
    seconds = time.perf_counter() - t
    tail = (proc.stdout.strip().splitlines() or proc.stderr.strip().splitlines() or [""])[-1]
    counts = {k: int(n) for n, k in re.findall(r"(\d+) (passed|failed|skipped|errors?)", tail)}
    return {
        "seconds": round(seconds, 2),
        "rc": proc.returncode,
        "counts": counts,
        "load_before": load,
        "load_after": os.getloadavg()[0],
        "summary": tail,
    }


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--before", type=Path, required=True, help="the checkout before the change")
    p.add_argument("--after", type=Path, default=Path("."), help="the checkout after it (default: here)")
    p.add_argument("--repeat", type=int, default=3, help="rounds, each running both (default: 3)")
    p.add_argument("--whole", action="store_true", help="the whole suite instead of FILES")
    p.add_argument("--before-args", default="", help="extra pytest options for the before checkout")
    p.add_argument("--after-args", default="", help='extra pytest options for the after one (e.g. "-n 2")')
    p.add_argument("files", nargs="*", help="test files, relative to each checkout")
    output_options(p, pictures=False)
    args = p.parse_args(argv)
    files = [] if args.whole else args.files
    if not files and not args.whole:
        p.error("name test files, or --whole")
    runs: dict[str, list[dict]] = {"before": [], "after": []}
    for i in range(args.repeat):
        order = ["before", "after"] if i % 2 == 0 else ["after", "before"]
        for which in order:
            r = _run(getattr(args, which).resolve(), files, getattr(args, f"{which}_args").split())
            runs[which].append(r)
            print(
                f"round {i + 1} {which:6} {r['seconds']:8.1f} s  load {r['load_before']:.1f}  {r['summary']}",
                flush=True,
            )
    med = {k: statistics.median(r["seconds"] for r in v) for k, v in runs.items()}
    print(
        f"median: before {med['before']:.1f} s, after {med['after']:.1f} s "
        f"({100 * (1 - med['after'] / med['before']):.0f}% less)"
    )
    out = in_folder(args.records, time.strftime("suite-time-%Y%m%d-%H%M%S.json"))
    out.write_text(
        json.dumps(
            {
                "cpu": cpu_name(),
                "cores": os.cpu_count(),
                "files": files or "whole suite",
                "args": {"before": args.before_args, "after": args.after_args},
                "median_seconds": med,
                "runs": runs,
            },
            indent=1,
        )
    )
    print(out)
    return 0


if __name__ == "__main__":
    sys.exit(main())
