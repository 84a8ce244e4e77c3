"""The hostile part of bench/load.py (``python -m bench.load --only hostile``): a public
link tried as an attacker would, on this machine only. A module of load.py, not a script.

Each kind of request below is sent ``--at-once`` times at once (8) over raw HTTP to the
app served on 127.0.0.1 (the script refuses any other address), each with a time limit;
meanwhile the server's memory (its process and children, sampled at 20 Hz) and how long
it takes to answer the page's ``/config`` are recorded. Then a queue flood: one visitor
sends 20 runs it never reads, and a fair visitor's run is timed from joining to starting,
against the length of one run. Last, whether the server still answers.
"""

from __future__ import annotations

import base64
import concurrent.futures as cf
import io
import json
import struct
import threading
import time
import uuid
import zlib
from collections.abc import Callable
from pathlib import Path
from typing import Any
from urllib.parse import urlparse

import psutil
from PIL import Image, PngImagePlugin

AT_ONCE = 8
TIMEOUT = 120  # seconds for one request (and the answer to it)
FLOOD = 20  # runs one visitor sends without reading them
ONCE = {"run-over-cap"}  # kinds sent once, not at_once times (a run the cap ends after NST_RUN_SECONDS)
RUN_SECONDS = 20  # the app's cap on a run here (NST_RUN_SECONDS; bench.load serves the app with it)


# --- Crafted files -----------------------------------------------------------------------


def _chunk(kind: bytes, body: bytes) -> bytes:
    return struct.pack(">I", len(body)) + kind + body + struct.pack(">I", zlib.crc32(kind + body))


def header_bomb(w: int = 9600, h: int = 6400) -> bytes:
    """A real PNG of w×h black pixels (61 Mpx, under nst's 64 Mpx): ~0.2 MB that decodes to 184 MB."""
    z = zlib.compressobj(9)
    row = b"\0" * (1 + 3 * w)
    data = b"".join(z.compress(row) for _ in range(h)) + z.flush()
    ihdr = struct.pack(">IIBBBBB", w, h, 8, 2, 0, 0, 0)
    return b"\x89PNG\r\n\x1a\n" + _chunk(b"IHDR", ihdr) + _chunk(b"IDAT", data) + _chunk(b"IEND", b"")


def brush_layer(w: int = 4800, h: int = 3200) -> bytes:
    """An RGBA brush layer of w×h with a red (style 1) stroke."""
    img = Image.new("RGBA", (w, h), (0, 0, 0, 0))
    img.paste((230, 40, 40, 255), (w // 4, h // 4, w // 2, h // 2))
    buf = io.BytesIO()
    img.save(buf, "PNG")
    return buf.getvalue()


def deep_recipe(depth: int = 3000) -> bytes:
    info = PngImagePlugin.PngInfo()
    info.add_text("nst-recipe", "[" * depth + "]" * depth)
    buf = io.BytesIO()
    Image.new("RGB", (8, 8)).save(buf, "PNG", pnginfo=info)
    return buf.getvalue()


def recipe_png(recipe: str | None, key_only: bool = False) -> bytes:
    """A small PNG carrying ``recipe`` as its nst recipe, or (``key_only``) a recipe chunk
    that holds its key and nothing else."""
    buf = io.BytesIO()
    info = PngImagePlugin.PngInfo()
    if recipe is not None:
        info.add_text("nst-recipe", recipe)
    Image.new("RGB", (48, 32), (200, 120, 40)).save(buf, "PNG", pnginfo=info)  # small_photo's shape, halved
    data = buf.getvalue()
    if key_only:  # insert a bare tEXt chunk before IEND
        data = data[:-12] + _chunk(b"tEXt", b"nst-recipe\0") + data[-12:]
    return data


def small_photo() -> bytes:
    buf = io.BytesIO()
    Image.new("RGB", (96, 64), (40, 90, 200)).save(buf, "PNG")
    return buf.getvalue()


# --- Raw HTTP ----------------------------------------------------------------------------


class Server:
    """The served app over raw HTTP: its events by name, uploads, calls."""

    def __init__(self, url: str) -> None:
        import httpx

        host = urlparse(url).hostname
        if host not in ("127.0.0.1", "localhost", "::1"):
            raise SystemExit(f"the hostile mode runs against this machine only, not {host}")
        self.url, self.httpx = url, httpx
        config = httpx.get(url + "config", timeout=30).json()
        self.fns = {d["api_name"]: d for d in config["dependencies"] if d.get("api_name")}

    def upload(self, name: str, data: bytes) -> dict[str, Any]:
        r = self.httpx.post(self.url + "gradio_api/upload", files=[("files", (name, data))], timeout=TIMEOUT)
        r.raise_for_status()
        return {"path": r.json()[0], "orig_name": name, "meta": {"_type": "gradio.FileData"}}

    def stylize_params(self) -> list[str]:
        """/stylize's parameters, in the order its inputs are sent."""
        info = self.httpx.get(self.url + "gradio_api/info", timeout=30).json()
        return [p["parameter_name"] for p in info["named_endpoints"]["/stylize"]["parameters"]]

    def call(
        self, name: str, data: list[Any], headers: dict[str, str] | None = None, session: str | None = None
    ) -> dict[str, Any]:
        """One event, as the page sends it; its answer and when it was joined, started and ended."""
        fn, session = self.fns[name], session or uuid.uuid4().hex[:11]
        body = {"data": data, "fn_index": fn["id"], "session_hash": session, "trigger_id": None, "event_data": None}
        t0 = time.monotonic()
        out: dict[str, Any] = {"joined": t0}
        try:
            if not fn["queue"]:
                r = self.httpx.post(self.url + "gradio_api/run/predict", json=body, headers=headers, timeout=TIMEOUT)
                ok = r.status_code == 200
                text = r.text
                try:
                    j = r.json()
                    text = str(j.get("error") or j.get("data"))
                except ValueError:
                    pass
                return {**out, "status": r.status_code, "ok": ok, "text": text, "end": time.monotonic()}
            r = self.httpx.post(self.url + "gradio_api/queue/join", json=body, headers=headers, timeout=TIMEOUT)
            if r.status_code != 200:
                return {**out, "status": r.status_code, "ok": False, "text": r.text, "end": time.monotonic()}
            with self.httpx.stream(
                "GET", self.url + f"gradio_api/queue/data?session_hash={session}", timeout=TIMEOUT
            ) as stream:
                for line in stream.iter_lines():
                    if '"process_starts"' in line:
                        out["started"] = time.monotonic()
                    if '"process_completed"' in line:
                        done = json.loads(line[5:])
                        output = done.get("output") or {}
                        data = output.get("data")
                        # A run's answer: its status line (the first text among its outputs).
                        status = next((d for d in data if isinstance(d, str)), None) if isinstance(data, list) else None
                        return {
                            **out,
                            "status": 200,
                            "ok": bool(done.get("success")),
                            "text": str(output.get("error") or status or data),
                            "end": time.monotonic(),
                        }
        except self.httpx.HTTPError as exc:
            return {**out, "status": None, "ok": False, "text": f"{type(exc).__name__}: {exc}", "end": time.monotonic()}
        return {**out, "status": 200, "ok": False, "text": "no answer", "end": time.monotonic()}

    def post(self, path: str, **kw: Any) -> dict[str, Any]:
        t0 = time.monotonic()
        try:
            r = self.httpx.post(self.url + path, timeout=TIMEOUT, **kw)
            return {
                "joined": t0,
                "status": r.status_code,
                "ok": r.status_code == 200,
                "text": r.text,
                "end": time.monotonic(),
            }
        except self.httpx.HTTPError as exc:
            return {
                "joined": t0,
                "status": None,
                "ok": False,
                "text": f"{type(exc).__name__}: {exc}",
                "end": time.monotonic(),
            }


# --- Watching the server -----------------------------------------------------------------


def rss(proc: psutil.Process) -> int:
    total = 0
    for p in [proc, *proc.children(recursive=True)]:
        try:
            total += p.memory_info().rss
        except psutil.Error:
            pass
    return total


class Watch:
    """While it runs: the server's peak memory, and the slowest answer to GET /config."""

    def __init__(self, server: Server, proc: psutil.Process) -> None:
        self.server, self.proc = server, proc
        self.peak, self.slowest, self.failed_pings = 0, 0.0, 0
        self._stop = threading.Event()

    def __enter__(self) -> Watch:
        self._threads = [
            threading.Thread(target=self._memory, daemon=True),
            threading.Thread(target=self._ping, daemon=True),
        ]
        for t in self._threads:
            t.start()
        return self

    def __exit__(self, *exc: Any) -> None:
        self._stop.set()
        for t in self._threads:
            t.join(TIMEOUT)

    def _memory(self) -> None:
        while not self._stop.wait(0.05):
            self.peak = max(self.peak, rss(self.proc))

    def _ping(self) -> None:
        while not self._stop.wait(0.5):
            t0 = time.monotonic()
            try:
                ok = self.server.httpx.get(self.server.url + "config", timeout=30).status_code == 200
            except self.server.httpx.HTTPError:
                ok = False
            self.slowest = max(self.slowest, time.monotonic() - t0)
            self.failed_pings += not ok


# --- The kinds of request ----------------------------------------------------------------


def kinds(s: Server) -> dict[str, tuple[str, Callable[[], dict[str, Any]]]]:
    """name: (what it is, one request)."""
    bomb = header_bomb()
    photo = s.upload("photo.png", small_photo())
    bomb_file = s.upload("bomb.png", bomb)
    layer = s.upload("layer.png", brush_layer())
    recipe = s.upload("recipe.png", deep_recipe())
    bomb_url = "data:image/png;base64," + base64.b64encode(bomb).decode()
    over_url = "data:image/png;base64," + base64.b64encode(b"\0" * (20 * 2**20 + 1024)).decode()
    secret = {"path": "/etc/hostname"}
    big_layer = s.upload("big-layer.png", brush_layer(9600, 6400))
    settings = {"steps": 5, "size": 64}
    recipes = {
        name: s.upload(f"{name}.png", recipe_png(json.dumps({"nst": "0.3.0", "settings": {**settings, **extra}})))
        for name, extra in (
            ("weights-path", {"weights": "/etc/hostname"}),
            ("weights-missing", {"weights": "/nope"}),
            ("weights-hub", {"weights": "hf:someone/repo/vgg.pth"}),
            ("memory", {"max_memory": 38}),
            ("device", {"device": "cuda:7"}),
        )
    }
    key_only = s.upload("key-only.png", recipe_png(None, key_only=True))

    def upscale(result: dict[str, Any]) -> dict[str, Any]:
        return s.call("upscale", [result, photo, photo, None, None, None])

    names = s.stylize_params()

    def stylize(**values: Any) -> list[Any]:
        data: list[Any] = [None] * len(names)
        for k, val in {"content": photo, "style": photo, "steps": 1, "size": 64, **values}.items():
            data[names.index(k)] = val
        return data

    return {
        "estimate-bomb": (
            "/estimate on an uploaded 0.2 MB PNG declaring 9600×6400 px",
            lambda: s.call("estimate", [bomb_file, 100, 512]),
        ),
        "estimate-data-url": (
            "/estimate on the same PNG as a data: URL",
            lambda: s.call("estimate", [{"url": bomb_url, "path": None}, 100, 512]),
        ),
        "data-url-over-limit": (
            "/estimate on a 20 MB + 1 kB data: URL",
            lambda: s.call("estimate", [{"url": over_url, "path": None}, 100, 512]),
        ),
        "body-over-limit": (
            "a 40 MB request body",
            lambda: s.post(
                "gradio_api/queue/join",
                content=b"{" + b" " * (40 * 2**20) + b"}",
                headers={"content-type": "application/json"},
            ),
        ),
        "server-path": (
            "/stylize with {path: /etc/hostname} (no meta)",
            lambda: s.call("stylize", stylize(content=secret)),
        ),
        "server-path-meta": (
            "/stylize with a server path with meta",
            lambda: s.call("stylize", stylize(content={**secret, "meta": {"_type": "gradio.FileData"}})),
        ),
        "brush-layer": (
            "the brush's masks from a 4800×3200 layer",
            lambda: s.call("painted_masks", [{"background": None, "layers": [layer], "composite": None}, None, None]),
        ),
        "brush-blob-index": (
            "the editor's accept_blobs with layer index 10⁹",
            lambda: s.post(
                "gradio_api/component_server",
                data={
                    "type": "layer",
                    "index": "1000000000",
                    "id": uuid.uuid4().hex,
                    "component_id": str(_painter_id(s)),
                    "session_hash": uuid.uuid4().hex[:11],
                    "fn_name": "accept_blobs",
                },
                files=[("blob", ("b.png", small_photo()))],
            ),
        ),
        "many-styles": (
            "/stylize with 200 more style images",
            lambda: s.call("stylize", stylize(more_styles=[photo] * 200)),
        ),
        "deep-recipe": ("a recipe PNG nested 3000 deep", lambda: s.call("load_recipe", [recipe])),
        "canvas-bomb": (
            "the brush canvas for the 9600×6400 PNG (queued, one at a time)",
            lambda: s.call("paint_on", [bomb_file]),
        ),
        "faces-bomb": (
            "the faces line for the 9600×6400 PNG (queued, one at a time)",
            lambda: s.call("faces_found", [bomb_file, True]),
        ),
        "brush-keep-layer": (
            "the brush's keep mask from a 9600×6400 layer",
            lambda: s.call("painted_keep", [{"background": None, "layers": [big_layer], "composite": None}, None]),
        ),
        "recipe-key-only": (
            "Load settings from a PNG whose recipe chunk holds only its key",
            lambda: s.call("load_recipe", [key_only]),
        ),
        **{
            f"upscale-recipe-{name}": (f"/upscale of a result whose recipe sets {name}", lambda r=r: upscale(r))
            for name, r in recipes.items()
        },
        "run-over-cap": (
            "/stylize of 5000 steps at 1024 px (the app's cap: NST_RUN_SECONDS, 20 s here)",
            lambda: s.call("stylize", stylize(steps=5000, size=1024)),
        ),
        "queued-run-direct": (
            "/stylize through /run/ (around the queue)",
            lambda: s.post(
                "gradio_api/run/predict",
                json={"data": stylize(), "fn_index": s.fns["stylize"]["id"], "session_hash": "x"},
            ),
        ),
    }


def _painter_id(s: Server) -> int:
    return s.fns["painted_masks"]["inputs"][0]


def _summary(answers: list[dict[str, Any]]) -> str:
    """The answers, counted: 'refused ×8: <message>' or 'ok ×8'."""
    counts: dict[str, int] = {}
    for a in answers:
        text = a["text"].replace("\n", " ")
        key = f"{'ok' if a['ok'] else 'refused'} ({a['status']}): {text[:90]}"
        counts[key] = counts.get(key, 0) + 1
    return "; ".join(f"{k} ×{n}" for k, n in counts.items())


def flood(s: Server, steps: int, size: int, log: Callable[[str], None]) -> dict[str, Any]:
    """One visitor (one address, as behind Spaces' proxy) sends FLOOD runs it never reads;
    then a fair visitor sends one, and reads it."""
    photo = s.upload("photo.png", small_photo())
    names = s.stylize_params()
    data: list[Any] = [None] * len(names)
    data[names.index("content")] = data[names.index("style")] = photo
    data[names.index("steps")], data[names.index("size")] = steps, size
    body = {"data": data, "fn_index": s.fns["stylize"]["id"], "trigger_id": None, "event_data": None}
    flooder = {"x-forwarded-for": "203.0.113.66"}
    codes = []
    for _ in range(FLOOD):
        r = s.httpx.post(
            s.url + "gradio_api/queue/join",
            json={**body, "session_hash": uuid.uuid4().hex[:11]},
            headers=flooder,
            timeout=TIMEOUT,
        )
        codes.append(r.status_code)
    time.sleep(1.0)
    fair = s.call("stylize", data, headers={"x-forwarded-for": "198.51.100.5"})
    run_s = fair["end"] - fair.get("started", fair["end"])
    wait_s = fair.get("started", fair["end"]) - fair["joined"]
    log(f"  flood: {codes.count(200)} of {FLOOD} accepted; fair visitor waited {wait_s:.1f} s, one run {run_s:.1f} s")
    return {
        "flood_accepted": codes.count(200),
        "flood_refused": FLOOD - codes.count(200),
        "flood_codes": codes,
        "fair_ok": fair["ok"],
        "fair_wait_s": wait_s,
        "run_s": run_s,
        "fair_text": fair["text"][:200],
    }


def _left(proc: psutil.Process, folder: str) -> int | None:
    """Files in the server's upload folder's ``folder`` (its GRADIO_TEMP_DIR), or None if unknown."""
    try:
        root = proc.environ().get("GRADIO_TEMP_DIR")
    except psutil.Error:
        return None
    if not root:
        return None
    path = Path(root) / folder
    return len(list(path.iterdir())) if path.is_dir() else 0


def brush_flood(s: Server, log: Callable[[str], None]) -> dict[str, Any]:
    """One visitor (one address) sends FLOOD brush events (new sessions each) at once; a fair
    visitor's run is then sent: does it get a place in the queue?"""
    layer = s.upload("layer.png", brush_layer())
    flooder = {"x-forwarded-for": "93.184.216.66"}
    data = [{"background": None, "layers": [layer], "composite": None}, None, None]
    with cf.ThreadPoolExecutor(FLOOD) as pool:
        floods = [pool.submit(s.call, "painted_masks", data, flooder) for _ in range(FLOOD)]
        time.sleep(0.5)
        photo = s.upload("photo.png", small_photo())
        names = s.stylize_params()
        run: list[Any] = [None] * len(names)
        run[names.index("content")] = run[names.index("style")] = photo
        run[names.index("steps")], run[names.index("size")] = 5, 64
        fair = s.call("stylize", run, headers={"x-forwarded-for": "93.184.216.77"})
        answers = [f.result() for f in floods]
    accepted = sum(a["status"] == 200 and "queue_full" not in a["text"] for a in answers)
    log(
        f"  brush flood: {accepted} of {FLOOD} accepted; the fair visitor's run: "
        f"{'ok' if fair['ok'] else 'refused: ' + fair['text'][:80]}"
    )
    return {"accepted": accepted, "fair_ok": fair["ok"], "fair_text": fair["text"][:200], "answers": _summary(answers)}


def hostile(
    url: str, proc: psutil.Process, log: Callable[[str], None], at_once: int = AT_ONCE, steps: int = 30, size: int = 64
) -> dict[str, Any]:
    """Every kind ``at_once`` times at once, then the flood; memory, answers and liveness."""
    s = Server(url)
    time.sleep(2.0)
    idle = rss(proc)
    res: dict[str, Any] = {"idle_rss_mb": idle / 1e6, "at_once": at_once, "kinds": {}}
    log(f"  server idle: {idle / 1e6:.0f} MB")
    try:
        short_cap = proc.environ().get("NST_RUN_SECONDS") == str(RUN_SECONDS)
    except psutil.Error:
        short_cap = False
    for name, (what, request) in kinds(s).items():
        if name == "run-over-cap" and not short_cap:
            log(f"  {name}: skipped (the app's own cap would make it a 10 min run; run --only hostile)")
            continue
        before = rss(proc)
        n = 1 if name in ONCE else at_once
        with Watch(s, proc) as w, cf.ThreadPoolExecutor(n) as pool:
            t0 = time.monotonic()
            answers = list(pool.map(lambda _: request(), range(n)))
            seconds = time.monotonic() - t0
        row = {
            "what": what,
            "seconds": seconds,
            "peak_over_idle_mb": (w.peak - idle) / 1e6,
            "before_over_idle_mb": (before - idle) / 1e6,
            "slowest_page_s": w.slowest,
            "failed_pings": w.failed_pings,
            "answers": _summary(answers),
        }
        res["kinds"][name] = row
        log(
            f"  {name}: peak +{row['peak_over_idle_mb']:.0f} MB, {seconds:.1f} s, page ≤ {w.slowest:.2f} s; "
            f"{row['answers'][:160]}"
        )
    res["data_url_files_left"] = _left(proc, "data-urls")
    log(f"  data: URL files left on the server after the requests: {res['data_url_files_left']}")
    with Watch(s, proc) as w:
        res["brush_flood"] = brush_flood(s, log)
    with Watch(s, proc) as w:
        res["flood"] = flood(s, steps, size, log)
    res["flood"].update(peak_over_idle_mb=(w.peak - idle) / 1e6, slowest_page_s=w.slowest, failed_pings=w.failed_pings)
    try:
        res["alive_after"] = s.httpx.get(url + "config", timeout=30).status_code == 200
    except s.httpx.HTTPError:
        res["alive_after"] = False
    res["end_rss_over_idle_mb"] = (rss(proc) - idle) / 1e6
    import shutil
    import tempfile

    tmp = Path(tempfile.mkdtemp(prefix="nst-hostile-"))
    try:
        res["cli_files"] = cli_files(tmp, log)
        res["interrupt"] = interrupt(tmp, log)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    return res


# --- The CLI's files and the process ------------------------------------------------------


def cli_files(tmp: Path, log: Callable[[str], None]) -> dict[str, Any]:
    """``python -m nst`` told to write over its own inputs, through names a stranger's
    script could choose: each must be refused before any work, its inputs intact."""
    import hashlib
    import os
    import subprocess
    import sys

    from .images import ROOT as root

    folder = tmp / "cli-files"
    folder.mkdir(parents=True, exist_ok=True)
    photo, style, keep = folder / "photo.png", folder / "style.png", folder / "keep.png"
    Image.new("RGB", (96, 64), (40, 90, 200)).save(photo)
    Image.new("RGB", (96, 64), (200, 90, 40)).save(style)
    Image.new("L", (96, 64), 255).save(keep)
    (folder / "hard.png").unlink(missing_ok=True)
    os.link(photo, folder / "hard.png")
    for name, target in (("dangling.png", folder / "gone" / "x.png"), ("out_0001.png", style)):
        (folder / name).unlink(missing_ok=True)
        (folder / name).symlink_to(target)
    base = [sys.executable, "-m", "nst", str(photo), str(style), "--keep", str(keep), "--steps", "2", "--size", "64"]
    cases = {
        "output-is-the-keep-mask": ["-o", str(keep)],
        "output-is-a-hard-link-to-the-photo": ["-o", str(folder / "hard.png")],
        "snapshot-through-a-link-to-the-style": ["-o", str(folder / "out.png"), "--save-every", "1"],
        "output-is-a-dangling-link": ["-o", str(folder / "dangling.png")],
        "output-is-a-folder": ["-o", str(folder)],
    }

    def digest() -> list[str]:
        return [hashlib.sha256(p.read_bytes()).hexdigest() for p in (photo, style, keep)]

    before, rows = digest(), {}
    for name, extra in cases.items():
        t0 = time.monotonic()
        proc = subprocess.run(
            [*base, *extra],
            capture_output=True,
            text=True,
            cwd=folder,
            timeout=TIMEOUT,
            env={**os.environ, "PYTHONPATH": str(root)},
        )
        lines = [line for line in proc.stderr.splitlines() if line.strip()]
        rows[name] = {
            "exit": proc.returncode,
            "seconds": round(time.monotonic() - t0, 2),
            "inputs_intact": digest() == before,
            "message": lines[-1][:200] if lines else "",
            "traceback": "Traceback" in proc.stderr,
        }
        log(
            f"  cli {name}: exit {proc.returncode}, inputs intact {rows[name]['inputs_intact']}, "
            f"{rows[name]['seconds']} s: {rows[name]['message'][:100]}"
        )
    return rows


def interrupt(tmp: Path, log: Callable[[str], None]) -> dict[str, Any]:
    """``python app.py`` after one run, then SIGINT (Ctrl-C) and, in a second start, SIGTERM:
    its exit status and whether anything aborted."""
    import signal
    import subprocess

    from gradio_client import Client, handle_file

    from .images import EXAMPLES
    from .server import serve

    rows = {}
    for sig in (signal.SIGINT, signal.SIGTERM):
        folder = tmp / f"interrupt-{sig.name}"
        with serve(folder, own_temp=True) as (url, proc):
            client = Client(url, verbose=False)
            photo = handle_file(str(EXAMPLES / "chelsea.jpg"))
            client.predict(content=photo, style=photo, steps=2, size=64, api_name="/stylize")
            client.close()
            t0 = time.monotonic()
            proc.send_signal(sig)
            try:
                proc.wait(60)
            except (subprocess.TimeoutExpired, psutil.TimeoutExpired):
                proc.kill()
                proc.wait(15)
            seconds = time.monotonic() - t0
            code = proc.returncode
        out = (folder / "server.log").read_text(errors="replace")
        rows[sig.name] = {
            "exit": code,
            "seconds": round(seconds, 2),
            "aborted": "terminate called" in out or code == -signal.SIGABRT,
            "traceback": "Traceback" in out,
        }
        log(
            f"  app.py after a run, {sig.name}: exit {code} in {rows[sig.name]['seconds']} s"
            f"{' (ABORTED)' if rows[sig.name]['aborted'] else ''}"
        )
    return rows


def table(res: dict[str, Any]) -> list[tuple[str, str]]:
    """Rows for load.py's table."""
    rows = [
        (
            f"hostile: {res['at_once']} at once (server idle {res['idle_rss_mb']:.0f} MB)",
            "peak memory over idle · time · slowest page answer · answer",
        )
    ]
    for name, r in res["kinds"].items():
        rows.append(
            (
                f"  {name}",
                f"+{r['peak_over_idle_mb']:.0f} MB · {r['seconds']:.1f} s · "
                f"{r['slowest_page_s']:.2f} s · {r['answers'][:120]}",
            )
        )
    rows.append(("  data: URL files left after the requests", str(res.get("data_url_files_left"))))
    b = res["brush_flood"]
    rows.append(
        (
            f"  brush flood ({FLOOD} brush events from one visitor)",
            f"{b['accepted']} accepted; a fair visitor's run {'ran' if b['fair_ok'] else 'was refused'}",
        )
    )
    f = res["flood"]
    rows += [
        (
            f"  queue flood ({FLOOD} runs from one visitor)",
            f"{f['flood_accepted']} accepted, {f['flood_refused']} refused",
        ),
        (
            "  a fair visitor's run",
            f"started after {f['fair_wait_s']:.1f} s; one run takes {f['run_s']:.1f} s; "
            f"+{f['peak_over_idle_mb']:.0f} MB, page ≤ {f['slowest_page_s']:.2f} s",
        ),
        (
            "  server answers afterwards",
            f"{res['alive_after']} (memory {res['end_rss_over_idle_mb']:+.0f} MB over idle)",
        ),
    ]
    for name, r in res.get("cli_files", {}).items():
        rows.append((f"  cli {name}", f"exit {r['exit']} · inputs intact {r['inputs_intact']} · {r['message'][:90]}"))
    for name, r in res.get("interrupt", {}).items():
        rows.append((f"  app.py after a run, {name}", f"exit {r['exit']} in {r['seconds']} s · aborted {r['aborted']}"))
    return rows
