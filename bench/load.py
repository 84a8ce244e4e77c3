"""The soak: bad input on every surface, concurrent users, memory over many runs, cancel timings.

    python -m bench.load                 # everything (about 15 min on a 2-core CPU)
    python -m bench.load --quick         # fewer runs, no browser: a smoke test of this script
    python -m bench.load --only restart  # the restart cycle alone (about 2 min)
    python -m bench.load --only hostile  # hostile requests, 8 at once (a few minutes; bench/hostile.py)

It serves app.py in a subprocess (bench/server.py: so that the server's own memory is
measured) and:

1. sends every case of ``bench/bad_inputs.py`` (the tests' catalogue too) through the Python API, the command line
   (in-process, and a sample through ``python -m nst``) and the app's ``/stylize``
   endpoint (gradio_client), counting the cases tried and handled;
2. runs ``--users`` gradio_client users at once, each doing ``--runs`` runs at 128 px, and
   reports how many were served, the queue positions they were told, and p50/p95 waits;
3. makes ``--memory-runs`` runs one after another and reports the server's RSS (and GPU
   memory where ``nvidia-smi`` answers) growth after ``--warmup`` runs;
4. times how long the worker stays busy after ``job.cancel()``, the page's Stop button and
   a closed tab (Playwright with Debian's Chromium): from the request to the start of the
   run queued behind it;
5. (``--only restart``) starts the app with a temporary folder of its own, runs, SIGKILLs
   it, ``--restart-cycles`` times, then starts, runs and stops it with SIGTERM, and reports
   the temporary disk space in use after each step (``--app`` serves another checkout's
   app.py, to compare);
6. (``--only hostile``) sends each kind of hostile request of ``bench/hostile.py`` 8 at
   once (loopback only), with the server's peak memory and its answers meanwhile, then a
   queue flood and a fair visitor's wait.

Prints a table and writes ``bench/records/load-<date>.json``.
"""

from __future__ import annotations

import argparse
import contextlib
import datetime
import json
import shutil
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import psutil

from . import bad_inputs as bi
from . import hostile as hostile_mode
from .images import EXAMPLES, ROOT, SHARED, in_folder, output_options
from .machine import describe
from .server import APP, CHROMIUM, CHROMIUM_ARGS, serve

IMAGES = SHARED
PAIRS = [
    ("tubingen.jpg", "starry_night.jpg"),
    ("hoovertowernight.jpg", "shipwreck.jpg"),
    ("tubingen.jpg", "picasso_selfport1907.jpg"),
]
SUBPROCESS_SAMPLE = [
    "truncated-jpeg",
    "decompression-bomb",
    "cmyk",
    "huge-photo",
    "steps-text",
    "style-weight-nan",
    "layers-junk",
    "weights-pickle-payload",
]


def _client(url: str):
    from gradio_client import Client

    return Client(url, verbose=False)


def _files(pair: tuple[str, str]) -> dict[str, Any]:
    from gradio_client import handle_file

    return {"content": handle_file(str(IMAGES / pair[0])), "style": handle_file(str(IMAGES / pair[1]))}


def _started(job) -> bool:
    from gradio_client.utils import Status

    return job.status().code in (Status.PROCESSING, Status.ITERATING, Status.PROGRESS, Status.FINISHED) or job.done()


def _wait(predicate: Callable[[], bool], timeout: float, poll: float = 0.01) -> float:
    t0 = time.monotonic()
    while not predicate():
        if time.monotonic() - t0 > timeout:
            raise TimeoutError(f"gave up after {timeout} s")
        time.sleep(poll)
    return time.monotonic()


def _pct(values: list[float], q: float) -> float:
    if not values:
        return float("nan")
    values = sorted(values)
    k = (len(values) - 1) * q
    lo, hi = int(k), min(int(k) + 1, len(values) - 1)
    return values[lo] + (values[hi] - values[lo]) * (k - lo)


# --- 1. Bad input --------------------------------------------------------------------------


def bad_input(url: str, tmp: Path, log: Callable[[str], None]) -> dict[str, Any]:
    folder = tmp / "cases"
    cases = bi.build(folder)
    content, style = IMAGES / PAIRS[0][0], IMAGES / PAIRS[0][1]
    client = _client(url)
    server_paths = [str(ROOT), str(tmp), "nst-app-", str(Path.home()) + "/"]
    rows = []
    for case in cases:
        row = {"case": case.name, "group": case.group, "what": case.what, "expect": case.expect}
        for surface, attempt in (
            ("api", lambda: bi.try_api(case, content, style)),
            ("cli", lambda: bi.try_cli(case, content, style, tmp / "cli")),
            (
                "cli_subprocess",
                lambda: (
                    bi.try_cli(case, content, style, tmp / "cli-sub", subprocess_=True)
                    if case.name in SUBPROCESS_SAMPLE
                    else None
                ),
            ),
            ("app", lambda: bi.try_app(case, client, content, style)),
        ):
            outcome = attempt()
            problem = bi.judge(case, "cli" if surface.startswith("cli") else surface, outcome, server_paths)
            row[surface] = (
                None
                if outcome is None
                else {
                    "outcome": outcome.kind,
                    "by": outcome.where,
                    "handled": problem is None,
                    "problem": problem,
                    "text": outcome.text[:240] if outcome.kind != "result" else "",
                    "seconds": round(outcome.seconds, 2),
                }
            )
        rows.append(row)
        log(
            f"  {case.name:30} "
            + "  ".join(
                f"{s}: {'n/a' if row[s] is None else row[s]['outcome'] + ('' if row[s]['handled'] else ' (NOT HANDLED)')}"
                for s in ("api", "cli", "app")
            )
        )
    # Afterwards the server still serves a normal run.
    after = client.predict(**_files(PAIRS[0]), steps=3, size=128, api_name="/stylize")
    client.close()
    surfaces = ("api", "cli", "cli_subprocess", "app")
    return {
        "kinds": len(cases),
        "tried": {s: sum(r[s] is not None for r in rows) for s in surfaces},
        "handled": {s: sum(r[s] is not None and r[s]["handled"] for r in rows) for s in surfaces},
        "pickle_payload_ran": (folder / "pickle-ran").exists(),
        "serves_afterwards": isinstance(after[1], str) and after[1].startswith("**Done**"),
        "cases": rows,
    }


# --- 2. Concurrent users -------------------------------------------------------------------


def concurrent(url: str, users: int, runs: int, steps: int, size: int, log: Callable[[str], None]) -> dict[str, Any]:
    from gradio_client.utils import Status

    records: list[dict[str, Any]] = []
    lock = threading.Lock()

    def user(i: int) -> None:
        client = _client(url)
        for r in range(runs):
            t_submit = time.monotonic()
            rec: dict[str, Any] = {"user": i, "run": r, "served": False, "positions": []}
            try:
                job = client.submit(**_files(PAIRS[(i + r) % len(PAIRS)]), steps=steps, size=size, api_name="/stylize")
                t_start = None
                while not job.done():
                    st = job.status()
                    if st.code == Status.IN_QUEUE and st.rank is not None:
                        pos = (st.rank + 1, st.queue_size)  # rank 0 is next, shown as "queue: 1/N"
                        if not rec["positions"] or rec["positions"][-1] != pos:
                            rec["positions"].append(pos)
                    if t_start is None and st.code in (Status.PROCESSING, Status.ITERATING, Status.PROGRESS):
                        t_start = time.monotonic()
                    time.sleep(0.02)
                t_end = time.monotonic()
                status = job.outputs()[-1][1] if job.outputs() else ""
                rec.update(
                    served=isinstance(status, str) and status.startswith("**Done**"),
                    wait=(t_start or t_end) - t_submit,
                    total=t_end - t_submit,
                )
            except Exception as exc:
                rec["error"] = f"{type(exc).__name__}: {exc}"
            with lock:
                records.append(rec)
        client.close()

    t0 = time.monotonic()
    threads = [threading.Thread(target=user, args=(i,)) for i in range(users)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    wall = time.monotonic() - t0
    waits = [r["wait"] for r in records if "wait" in r]
    totals = [r["total"] for r in records if "total" in r]
    told = [r for r in records if r["positions"]]
    out = {
        "users": users,
        "runs_per_user": runs,
        "steps": steps,
        "size": size,
        "runs_served": sum(r["served"] for r in records),
        "runs": users * runs,
        "users_served": len({r["user"] for r in records if r["served"]}),
        "users_all_runs_served": sum(all(r["served"] for r in records if r["user"] == u) for u in range(users)),
        "wait_p50_s": _pct(waits, 0.5),
        "wait_p95_s": _pct(waits, 0.95),
        "wait_max_s": max(waits, default=0),
        "latency_p50_s": _pct(totals, 0.5),
        "latency_p95_s": _pct(totals, 0.95),
        "runs_told_their_position": len(told),
        "largest_position": max((p[0] for r in told for p in r["positions"]), default=None),
        "wall_s": wall,
        "errors": [r["error"] for r in records if "error" in r],
    }
    log(
        f"  served {out['runs_served']}/{out['runs']} runs, waits p50 {out['wait_p50_s']:.1f} s "
        f"p95 {out['wait_p95_s']:.1f} s"
    )
    return out


# --- 3. Memory -----------------------------------------------------------------------------


def _gpu_used_mb() -> float | None:
    if not shutil.which("nvidia-smi"):
        return None
    try:
        out = subprocess.run(
            ["nvidia-smi", "--query-gpu=memory.used", "--format=csv,noheader,nounits"],
            capture_output=True,
            text=True,
            timeout=10,
        ).stdout
        return float(out.split()[0])
    except (OSError, ValueError, IndexError, subprocess.TimeoutExpired):
        return None


def memory(
    url: str, proc: psutil.Process, runs: int, warmup: int, steps: int, size: int, log: Callable[[str], None]
) -> dict[str, Any]:
    client = _client(url)
    rss, gpu = [], []
    for i in range(runs):
        _, status, *_ = client.predict(**_files(PAIRS[i % len(PAIRS)]), steps=steps, size=size, api_name="/stylize")
        assert status.startswith("**Done**"), status
        rss.append(proc.memory_info().rss / 2**20)
        gpu.append(_gpu_used_mb())
        if (i + 1) % 10 == 0:
            log(f"  run {i + 1}: RSS {rss[-1]:.0f} MB")
    client.close()
    base = rss[warmup - 1]
    out = {
        "runs": runs,
        "warmup": warmup,
        "steps": steps,
        "size": size,
        "rss_mb": [round(x, 1) for x in rss],
        "rss_after_warmup_mb": base,
        "rss_end_mb": rss[-1],
        "rss_peak_after_warmup_mb": max(rss[warmup - 1 :]),
        "rss_growth_after_warmup": (rss[-1] - base) / base,
        "rss_peak_growth_after_warmup": (max(rss[warmup - 1 :]) - base) / base,
    }
    if all(g is not None for g in gpu):
        gbase = gpu[warmup - 1]
        out.update(gpu_mb=gpu, gpu_growth_after_warmup=(gpu[-1] - gbase) / max(gbase, 1.0))
    return out


# --- 4. Cancellation -----------------------------------------------------------------------


def _running_long(client, size: int = 128):
    """A job that will run for minutes, once it reports a step (every step at the full size:
    the worst case for cancelling, which waits for the step under way)."""
    job = client.submit(**_files(PAIRS[0]), steps=4000, size=size, multiscale=False, api_name="/stylize")
    _wait(lambda: any(isinstance(o[1], str) and o[1].startswith("step ") for o in job.outputs()), 120, 0.05)
    return job


def _queued_behind(client):
    from gradio_client.utils import Status

    job = client.submit(**_files(PAIRS[1]), steps=1, size=64, api_name="/stylize")
    _wait(lambda: job.status().code == Status.IN_QUEUE, 30)
    return job


def cancel_api(url: str, repeats: int, size: int, log: Callable[[str], None]) -> list[float]:
    a, b = _client(url), _client(url)
    times = []
    for _ in range(repeats):
        long = _running_long(a, size)
        nxt = _queued_behind(b)
        t0 = time.monotonic()
        long.cancel()
        times.append(_wait(lambda: _started(nxt), 60) - t0)
        nxt.result(timeout=120)
        log(f"  job.cancel(): next run started after {times[-1]:.2f} s")
    a.close()
    b.close()
    return times


def _page_run(page, url: str, steps: int, size: int) -> None:
    from playwright.sync_api import expect

    page.goto(url)
    page.locator("#nst-content input[type=file]").set_input_files(str(IMAGES / PAIRS[0][0]))
    page.locator("#nst-style input[type=file]").set_input_files(str(IMAGES / PAIRS[0][1]))
    expect(page.locator("#nst-content img")).to_be_visible(timeout=30_000)
    expect(page.locator("#nst-style img")).to_be_visible(timeout=30_000)
    page.locator("#nst-advanced").get_by_text("Advanced").click()
    for elem, value in (("nst-size", size), ("nst-steps", steps)):
        box = page.locator(f"#{elem} input[type=number]")
        expect(box).to_be_editable()
        box.fill(str(value))
        box.press("Enter")
        expect(box).to_have_value(str(value))
    expect(page.locator("#nst-estimate")).to_contain_text(f"{steps} steps at {size} px", timeout=15_000)
    page.locator("#nst-multiscale input[type=checkbox]").uncheck()  # every step at the full size
    page.locator("#nst-run").click()


def browser(url: str, repeats: int, size: int, log: Callable[[str], None]) -> dict[str, Any]:
    """Stop button and closed tab, timed to the start of the next run; the queue position shown."""
    import re

    from playwright.sync_api import expect, sync_playwright

    out: dict[str, Any] = {"stop_s": [], "closed_tab_s": []}
    api = _client(url)
    with sync_playwright() as p:
        b = p.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS)
        # The queue position a waiting page shows.
        blocker = _running_long(api)
        page = b.new_page(viewport={"width": 1280, "height": 900})
        _page_run(page, url, steps=4000, size=128)
        shown = page.get_by_text(re.compile(r"queue: \d+/\d+")).first
        expect(shown).to_be_visible(timeout=30_000)
        out["queue_text_shown"] = shown.inner_text()
        log(f"  a waiting page shows {out['queue_text_shown']!r}")
        blocker.cancel()
        page.close()
        for kind in ("stop_s", "closed_tab_s"):
            for _ in range(repeats):
                page = b.new_page(viewport={"width": 1280, "height": 900})
                _page_run(page, url, steps=4000, size=size)
                expect(page.locator("#nst-status")).to_have_text(re.compile(r"step \d+/4000"), timeout=120_000)
                nxt = _queued_behind(api)
                t0 = time.monotonic()
                if kind == "stop_s":
                    page.locator("#nst-stop").click()
                else:
                    page.close()
                out[kind].append(_wait(lambda: _started(nxt), 60) - t0)
                if kind == "stop_s":
                    expect(page.locator("#nst-status")).to_contain_text("Stopped", timeout=30_000)
                    out.setdefault("stop_status", page.locator("#nst-status").inner_text())
                    page.close()
                nxt.result(timeout=120)
                log(f"  {kind[:-2].replace('_', ' ')}: next run started after {out[kind][-1]:.2f} s")
        b.close()
    api.close()
    return out


# --- 6. Restarts ----------------------------------------------------------------------------


def _disk_used(folder: Path) -> int:
    """Bytes of the files under ``folder`` (the servers' temporary folder), logs aside."""
    total = 0
    for p in folder.rglob("*"):
        with contextlib.suppress(OSError):
            if p.is_file() and not p.is_symlink() and p.name != "server.log":
                total += p.stat().st_size
    return total


def restarts(cycles: int, app: Path, log: Callable[[str], None]) -> dict[str, Any]:
    """Start, run, SIGKILL, ``cycles`` times; then start, run and stop with SIGTERM. The
    temporary disk space in use (the servers' own TMPDIR) after each step."""
    from gradio_client import handle_file

    tmp = Path(tempfile.mkdtemp(prefix="nst-restarts-"))
    files = {"content": handle_file(str(EXAMPLES / "chelsea.jpg")), "style": handle_file(str(EXAMPLES / "waves.jpg"))}
    steps: list[dict[str, Any]] = [{"step": "before the first start", "bytes": _disk_used(tmp)}]

    def note(step: str) -> None:
        folders = sorted(p.name for p in tmp.iterdir() if p.is_dir() and p.name != "examples")
        steps.append({"step": step, "bytes": _disk_used(tmp), "folders": folders})
        log(f"  {step}: {steps[-1]['bytes'] / 1e6:.2f} MB in {len(folders)} folder(s)")

    def run(url: str) -> None:
        client = _client(url)
        _, status, *_ = client.predict(**files, steps=2, size=128, api_name="/stylize")
        client.close()
        assert status.startswith("**Done**"), status

    try:
        for i in range(cycles):
            with serve(tmp, own_temp=True, app=app) as (url, proc):
                note(f"start {i + 1}")
                run(url)
                note(f"start {i + 1}, after a run")
                proc.kill()  # SIGKILL: no clean-up of its own is possible
                proc.wait(30)
            note(f"start {i + 1}, after SIGKILL")
        with serve(tmp, own_temp=True, app=app) as (url, proc):
            note(f"start {cycles + 1}")
            run(url)
            note(f"start {cycles + 1}, after a run")
            proc.terminate()  # SIGTERM
            proc.wait(60)
        note(f"start {cycles + 1}, after SIGTERM")
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    return {
        "cycles": cycles,
        "app": str(app),
        "steps": steps,
        "bytes_after_sigkills": steps[-4]["bytes"] if cycles else None,
        "bytes_at_last_start": steps[-3]["bytes"],
        "bytes_at_the_end": steps[-1]["bytes"],
        "folders_at_the_end": steps[-1]["folders"],
    }


# --- Report --------------------------------------------------------------------------------


def _table(res: dict[str, Any]) -> str:
    rows: list[tuple[str, str]] = []
    if "bad_input" in res:
        bad = res["bad_input"]
        rows.append(("bad-input kinds", str(bad["kinds"])))
        for s in ("api", "cli", "cli_subprocess", "app"):
            rows.append((f"  handled / tried: {s}", f"{bad['handled'][s]} / {bad['tried'][s]}"))
        rows.append(("  pickle payload ran", str(bad["pickle_payload_ran"])))
        rows.append(("  server serves afterwards", str(bad["serves_afterwards"])))
    if "concurrent" in res:
        c = res["concurrent"]
        rows += [
            (
                f"concurrent users ({c['runs_per_user']} runs of {c['steps']} steps at {c['size']} px each)",
                f"{c['users_all_runs_served']} / {c['users']} users fully served",
            ),
            ("  runs served", f"{c['runs_served']} / {c['runs']}"),
            (
                "  queue wait p50 / p95 / max",
                f"{c['wait_p50_s']:.1f} / {c['wait_p95_s']:.1f} / {c['wait_max_s']:.1f} s",
            ),
            ("  submit-to-result p50 / p95", f"{c['latency_p50_s']:.1f} / {c['latency_p95_s']:.1f} s"),
            ("  runs told their queue position", f"{c['runs_told_their_position']} (largest {c['largest_position']})"),
        ]
    if "memory" in res:
        m = res["memory"]
        rows += [
            (
                f"server RSS over {m['runs']} runs ({m['size']} px)",
                f"{m['rss_after_warmup_mb']:.0f} MB after {m['warmup']} → {m['rss_end_mb']:.0f} MB "
                f"({m['rss_growth_after_warmup']:+.1%}; peak {m['rss_peak_growth_after_warmup']:+.1%})",
            ),
            (
                "  GPU memory growth",
                "no GPU" if "gpu_growth_after_warmup" not in m else f"{m['gpu_growth_after_warmup']:+.1%}",
            ),
        ]
    at = f" ({res['args']['cancel_size']} px runs)"
    for key, label in (
        ("cancel_api_s", "job.cancel() → next run starts" + at),
        ("stop_s", "Stop button → next run starts" + at),
        ("closed_tab_s", "closed tab → next run starts" + at),
    ):
        values = res.get(key) or res.get("browser", {}).get(key)
        if values:
            rows.append((label, f"max {max(values):.2f} s, median {statistics.median(values):.2f} s (n={len(values)})"))
    if res.get("browser", {}).get("queue_text_shown"):
        rows.append(("a waiting page shows", repr(res["browser"]["queue_text_shown"])))
    if "restarts" in res:
        r = res["restarts"]
        mb = {x["step"]: x["bytes"] / 1e6 for x in r["steps"]}
        last = f"start {r['cycles'] + 1}"
        rows += [
            (
                f"temporary disk, {r['cycles']} × (start, run, SIGKILL)",
                f"{mb['before the first start']:.2f} MB before → "
                + ", ".join(f"{mb[f'start {i + 1}, after SIGKILL']:.2f}" for i in range(r["cycles"]))
                + " MB after each kill",
            ),
            ("  at the next start (earlier folders swept)", f"{r['bytes_at_last_start'] / 1e6:.2f} MB"),
            (
                "  after a run, then SIGTERM",
                f"{mb[last + ', after a run']:.2f} MB → "
                f"{r['bytes_at_the_end'] / 1e6:.2f} MB ({len(r['folders_at_the_end'])} folders left)",
            ),
        ]
    if "hostile" in res:
        rows += hostile_mode.table(res["hostile"])
    width = max(len(k) for k, _ in rows)
    return "\n".join(f"{k:<{width}}  {v}" for k, v in rows)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--quick", action="store_true", help="fewer runs and no browser")
    parser.add_argument("--users", type=int, default=8)
    parser.add_argument("--runs", type=int, default=3, help="runs per concurrent user")
    parser.add_argument("--steps", type=int, default=8, help="steps of each concurrent user's run")
    parser.add_argument("--memory-runs", type=int, default=50)
    parser.add_argument("--warmup", type=int, default=10)
    parser.add_argument("--cancel-repeats", type=int, default=5)
    parser.add_argument(
        "--cancel-size", type=int, default=512, help="size of the runs that are cancelled (every step at this size)"
    )
    parser.add_argument("--restart-cycles", type=int, default=3, help="start, run, SIGKILL this many times")
    parser.add_argument(
        "--app", type=Path, default=APP, help="the app the restart cycle serves (another checkout's app.py, to compare)"
    )
    parser.add_argument("--at-once", type=int, default=hostile_mode.AT_ONCE, help="hostile requests sent at once")
    parts = ["bad", "concurrent", "memory", "cancel", "browser", "restart", "hostile"]
    parser.add_argument("--skip", nargs="*", default=[], choices=parts)
    parser.add_argument("--only", nargs="*", default=None, choices=parts, help="run only these parts")
    output_options(parser, pictures=False)
    args = parser.parse_args(argv)
    if args.quick:
        args.users, args.runs, args.memory_runs, args.warmup, args.cancel_repeats = 3, 1, 8, 3, 2
        args.restart_cycles = 1
        args.skip = [*args.skip, "browser"]
    if args.only is not None:
        args.skip = [p for p in parts if p not in args.only]
    served = {"bad", "concurrent", "memory", "cancel", "browser", "hostile"} - set(args.skip)
    if served - {"hostile"} and not (IMAGES / "tubingen.jpg").is_file():
        print(f"test images not found in {IMAGES}", file=sys.stderr)
        return 2

    def log(line: str) -> None:
        print(line, flush=True)

    res: dict[str, Any] = {"date": datetime.date.today().isoformat(), "args": vars(args), "machine": describe()}
    tmp = Path(tempfile.mkdtemp(prefix="nst-load-"))
    path = in_folder(args.records, f"load-{res['date']}.json")
    t0 = time.monotonic()

    def part(key: str, title: str, fn: Callable[[], Any]) -> None:
        """Run one part; a failure is recorded and the others still run. Saves as it goes."""
        log(title)
        try:
            res[key] = fn()
        except Exception as exc:
            res.setdefault("failures", {})[key] = f"{type(exc).__name__}: {exc}"
            log(f"  FAILED: {type(exc).__name__}: {exc}")
        path.write_text(json.dumps(res, indent=2, default=str))

    try:
        if "restart" not in args.skip:
            part(
                "restarts",
                f"5. restarts: {args.restart_cycles} × (start, run, SIGKILL), then start, run, SIGTERM",
                lambda: restarts(args.restart_cycles, args.app.resolve(), log),
            )
        # The hostile part alone serves the app with a short run cap, so that its run over the
        # cap ends in seconds; beside other parts the app keeps its own cap (and that kind is skipped).
        short_cap = {"NST_RUN_SECONDS": str(hostile_mode.RUN_SECONDS)} if served == {"hostile"} else {}
        with serve(tmp, env_extra=short_cap) if served else contextlib.nullcontext((None, None)) as (url, proc):
            if served:
                log(f"serving {url} (pid {proc.pid})")
            if "bad" not in args.skip:
                part("bad_input", "1. bad input through the API, the CLI and the app", lambda: bad_input(url, tmp, log))
            if "concurrent" not in args.skip:
                part(
                    "concurrent",
                    f"2. {args.users} concurrent users × {args.runs} runs at 128 px",
                    lambda: concurrent(url, args.users, args.runs, args.steps, 128, log),
                )
            if "memory" not in args.skip:
                part(
                    "memory",
                    f"3. memory over {args.memory_runs} runs",
                    lambda: memory(url, proc, args.memory_runs, args.warmup, 5, 128, log),
                )
            if "cancel" not in args.skip:
                part(
                    "cancel_api_s",
                    "4. job.cancel() → next run",
                    lambda: cancel_api(url, args.cancel_repeats, args.cancel_size, log),
                )
            if "hostile" not in args.skip:
                part(
                    "hostile",
                    f"6. hostile requests, {args.at_once} at once, then a queue flood",
                    lambda: hostile_mode.hostile(url, proc, log, at_once=args.at_once),
                )
            if "browser" not in args.skip and CHROMIUM.is_file():
                part(
                    "browser",
                    "5. Stop button and closed tab (Chromium)",
                    lambda: browser(url, args.cancel_repeats, args.cancel_size, log),
                )
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    res["wall_s"] = time.monotonic() - t0
    path.write_text(json.dumps(res, indent=2, default=str))
    print("\n" + _table(res))
    for key, error in res.get("failures", {}).items():
        print(f"FAILED {key}: {error}")
    print(f"\n{res['machine']}; {res['wall_s'] / 60:.1f} min; details in {path}")
    return 1 if res.get("failures") else 0


if __name__ == "__main__":
    sys.exit(main())
