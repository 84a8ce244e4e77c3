"""What a run through the app costs against the same run from the CLI, and where the CPU goes.

    python -m bench.app_cost [--pairs 3] [--size 512] [--steps 200] [--content C --style S]
                             [--checkout DIR] [--out PATH]

The app is served as deployed (``python app.py`` in a process of its own, through a
wrapper that only names each Python thread in /proc, as ``top -H`` shows it) and warmed
with a small run. Then ``--pairs`` times, interleaved: the CLI (``python -m nst C S --size
N --steps N -o out.png``, timed from outside, the server paused by SIGSTOP meanwhile, as a
machine running only the CLI would have no server), then the app's ``/stylize`` with the
same settings, timed from submit to the result while fetching each preview as the page
does (``bench.estimate.app_run``); also the time to the first preview. Defaults: nst's
(``nst.DEFAULT``), which both read. The app's run cap is lifted (``NST_RUN_SECONDS``): on a
loaded machine it would cut the app's run short of the CLI's steps.

While each runs, the CPU of every thread of the process (user and system seconds, minor
page faults) is read from ``/proc/<pid>/task/*/stat`` every 0.2 s, and summed by thread
name: for the app its run (``nst-run``: the run's thread and the OpenMP worker it makes,
which takes its name), Gradio's event loop, the worker threads that step the handler, the
main thread. A thread that ends loses at most its last 0.2 s. The bench's own CPU (its
client, polling and fetching previews on the same cores, where a browser would not) is
beside it.

Prints the pairs and their medians, and writes bench/records/app-cost-<machine>.json. On a
shared machine the wall times follow the other jobs: interleave, take medians, and say the
load average (it is in the record).

``--checkout DIR`` serves and runs another checkout's app and CLI (e.g. ``git archive``
of an earlier commit), measured by this bench.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from .estimate import app_run, paused, process_cpu
from .images import EXAMPLES, RECORDS, ROOT, in_folder
from .machine import describe, tag
from .server import serve

TICK = os.sysconf("SC_CLK_TCK")
SAMPLE_EVERY = 0.2  # seconds between two readings of the threads' CPU

# `python app.py`, each Python thread named in /proc (Linux's 15 characters) when it
# starts; a thread made by native code (an OpenMP worker) takes its creator's name.
NAMED_APP = """\
import ctypes, runpy, sys, threading
sys.path.insert(0, {root!r})
_prctl = ctypes.CDLL(None).prctl
_inner = threading.Thread._bootstrap_inner
def _named(self):
    _prctl(15, self.name.encode()[:15], 0, 0, 0)  # PR_SET_NAME
    _inner(self)
threading.Thread._bootstrap_inner = _named
runpy.run_path({app!r}, run_name="__main__")
"""


def read_threads(pid: int) -> dict[int, tuple[str, float, float, int]]:
    """Each thread of ``pid``: its name, user and system CPU seconds, minor page faults."""
    found = {}
    for task in Path(f"/proc/{pid}/task").iterdir():
        try:
            text = (task / "stat").read_text()
        except OSError:  # ended meanwhile
            continue
        name = text[text.index("(") + 1 : text.rindex(")")]
        f = text.rsplit(")", 1)[1].split()
        found[int(task.name)] = (name, int(f[11]) / TICK, int(f[12]) / TICK, int(f[7]))
    return found


@contextmanager
def threads_of(pid: int) -> Iterator[list[dict[str, Any]]]:
    """Sample ``pid``'s threads while the block runs; the list it yields is filled, when the
    block ends, with each thread's CPU in the block (user_s, system_s, faults) by name."""
    before = read_threads(pid)
    last = dict(before)
    done = threading.Event()

    def sample() -> None:
        while not done.wait(SAMPLE_EVERY):
            try:
                last.update(read_threads(pid))
            except FileNotFoundError:  # the process ended
                return

    sampler = threading.Thread(target=sample, daemon=True)
    sampler.start()
    out: list[dict[str, Any]] = []
    try:
        yield out
    finally:
        done.set()
        sampler.join()
        try:
            last.update(read_threads(pid))
        except FileNotFoundError:
            pass
        groups: dict[str, dict[str, Any]] = {}
        for tid, (name, user, system, faults) in last.items():
            b = before.get(tid, (name, 0.0, 0.0, 0))
            label = "main" if tid == pid else name
            g = groups.setdefault(label, {"name": label, "threads": 0, "user_s": 0.0, "system_s": 0.0, "faults": 0})
            used = (user - b[1], system - b[2], faults - b[3])
            if used[0] + used[1] > 0 or used[2] > 0:
                g["threads"] += 1
            g["user_s"] += used[0]
            g["system_s"] += used[1]
            g["faults"] += used[2]
        out.extend(sorted((g for g in groups.values() if g["threads"]), key=lambda g: -(g["user_s"] + g["system_s"])))


def cli_run(root: Path, args: list[str]) -> dict[str, Any]:
    """``python -m nst ARGS`` in ``root``, timed from outside, its threads sampled."""
    t = time.perf_counter()
    proc = subprocess.Popen(
        [sys.executable, "-m", "nst", *args], cwd=root, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True
    )
    with threads_of(proc.pid) as threads:
        _, err = proc.communicate()
    wall = time.perf_counter() - t
    if proc.returncode:
        raise SystemExit(err)
    return {"wall_s": wall, "threads": threads, "cpu_s": sum(g["user_s"] + g["system_s"] for g in threads)}


def medians(pairs: list[dict[str, Any]]) -> dict[str, float]:
    """The pairs' medians: wall times, their ratio, the first preview, CPU seconds."""
    return {
        "cli_s": statistics.median(x["cli"]["wall_s"] for x in pairs),
        "app_s": statistics.median(x["app"]["real"] for x in pairs),
        "ratio": statistics.median(x["ratio"] for x in pairs),
        "first_preview_s": statistics.median(x["app"]["first"] for x in pairs),
        "cli_cpu_s": statistics.median(x["cli"]["cpu_s"] for x in pairs),
        "app_cpu_s": statistics.median(x["app"]["cpu_s"] for x in pairs),
    }


def write_record(out: Path, a: argparse.Namespace, root: Path, pairs: list[dict[str, Any]]) -> None:
    """The record so far: the machine, the run, the medians and every pair."""
    record = {
        "machine": describe(),
        "checkout": str(root),
        "run": {"content": a.content, "style": a.style, "size": a.size, "steps": a.steps},
        "medians": medians(pairs),
        "pairs": pairs,
    }
    out.write_text(json.dumps(record, indent=1))


def main(argv: list[str] | None = None) -> None:
    import httpx
    from gradio_client import Client

    import nst

    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--pairs", type=int, default=3)
    p.add_argument("--size", type=int, default=nst.DEFAULT.size)
    p.add_argument("--steps", type=int, default=nst.DEFAULT.steps)
    p.add_argument("--content", default=str(EXAMPLES / "chelsea.jpg"))
    p.add_argument("--style", default=str(EXAMPLES / "starry_night.jpg"))
    p.add_argument("--checkout", type=Path, default=ROOT, help="the checkout whose app and CLI run (default: this one)")
    p.add_argument("--out", default=None, help="the JSON record (default: bench/records/app-cost-<machine>.json)")
    a = p.parse_args(argv)
    root = a.checkout.resolve()
    tmp = Path(tempfile.mkdtemp(prefix="nst-app-cost-"))
    wrapper = tmp / "named_app.py"
    wrapper.write_text(NAMED_APP.format(root=str(root), app=str(root / "app.py")))
    cli_args = [a.content, a.style, "--size", str(a.size), "--steps", str(a.steps), "-o", str(tmp / "cli.png")]
    out = Path(a.out or in_folder(RECORDS, f"app-cost-{tag()}.json"))
    pairs: list[dict[str, Any]] = []
    no_cap = {"NST_RUN_SECONDS": str(24 * 3600)}
    with serve(tmp / "server", app=wrapper, env_extra=no_cap) as (url, server), httpx.Client() as http:
        client = Client(url, verbose=False, download_files=False)
        app_run(client, http, a.content, a.style, 128, 4)  # warm: a server that has served before
        for i in range(a.pairs):
            load = os.getloadavg()[0]
            with paused(server):
                cli = cli_run(root, cli_args)
            print(json.dumps({"pair": i + 1, "cli_s": round(cli["wall_s"], 1), "load": load}), flush=True)
            s0, b0, load = process_cpu(server.pid), time.process_time(), os.getloadavg()[0]
            with threads_of(server.pid) as threads:
                app = app_run(client, http, a.content, a.style, a.size, a.steps)
            app.update(cpu_s=process_cpu(server.pid) - s0, client_cpu_s=time.process_time() - b0, threads=threads)
            pairs.append(
                {"cli": cli, "app": app, "ratio": app["real"] / cli["wall_s"], "load": [load, os.getloadavg()[0]]}
            )
            print(
                json.dumps(
                    {
                        "pair": i + 1,
                        "app_s": round(app["real"], 1),
                        "ratio": round(pairs[-1]["ratio"], 3),
                        "first_preview_s": round(app["first"], 2),
                    }
                )
            )
            write_record(out, a, root, pairs)  # after every pair: a run cut short keeps what it measured
            for side in ("cli", "app"):
                for g in pairs[-1][side]["threads"][:6]:
                    print(
                        f"  {side} {g['name']:16s} ×{g['threads']:<2d} user {g['user_s']:6.1f} s  "
                        f"system {g['system_s']:5.1f} s  faults {g['faults']}",
                        flush=True,
                    )
        client.close()
    med = medians(pairs)
    print("\n| pair | CLI | app | app / CLI | first preview | CPU s: CLI, app server, client | load |")
    print("|---|---|---|---|---|---|---|")
    for i, x in enumerate(pairs, 1):
        print(
            f"| {i} | {x['cli']['wall_s']:.1f} s | {x['app']['real']:.1f} s | {x['ratio']:.2f}× | "
            f"{x['app']['first']:.2f} s | {x['cli']['cpu_s']:.0f}, {x['app']['cpu_s']:.0f}, "
            f"{x['app']['client_cpu_s']:.1f} | {x['load'][0]:.1f}–{x['load'][1]:.1f} |"
        )
    print(
        f"| median | {med['cli_s']:.1f} s | {med['app_s']:.1f} s | **{med['ratio']:.2f}×** | "
        f"{med['first_preview_s']:.2f} s | {med['cli_cpu_s']:.0f}, {med['app_cpu_s']:.0f} | |"
    )
    write_record(out, a, root, pairs)
    print(f"record: {out}")


if __name__ == "__main__":
    main()
