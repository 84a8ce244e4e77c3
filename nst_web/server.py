"""Starting and serving the app: what ``python app.py`` does, in explicit steps.

- :func:`start` sets the process up (once) and returns the page: this process's temporary
  folder (results, and Gradio's uploads through ``GRADIO_TEMP_DIR``), Pillow's pixel cap,
  ``spaces`` before torch touches CUDA, the weights, then the page (:func:`.page.build_demo`).
- :func:`launch_kwargs` are ``demo.launch``'s keyword arguments, shared by :func:`main` and the tests.
- :func:`serve` launches the page and serves until SIGINT or SIGTERM, then stops in order.
- :func:`main` is the command line: ``--share``, the step costs' calibration, then :func:`serve`.

Nothing here runs at import.
"""

from __future__ import annotations

import argparse
import os
import signal
import sys
import time
import warnings
from pathlib import Path
from typing import Any

import gradio as gr
from PIL import Image
from starlette.middleware import Middleware

import nst

from . import background, budgets, folder, gpu, gradio_patches, machine, page, parts, uploads
from .parts import saying

__all__ = ["start", "launch_kwargs", "serve", "main"]

_demo: gr.Blocks | None = None
_prepared: list[bool] = []


def prepare() -> Path:
    """Set this process up for the app, once: its own temporary folder (removed when it
    stops, and by the next start after a kill), where Gradio's uploads go too unless
    ``GRADIO_TEMP_DIR`` names another; Pillow's pixel cap; the GPU path (``spaces``, imported
    with :mod:`.gpu` before any torch call touches CUDA); the weights, loaded once (on
    ZeroGPU onto "cuda", as documented), shared by every run. Returns the folder."""
    if _prepared:
        return folder.claim()
    gradio_patches.check_version()
    # Claimed already by nst_web.start()/main() before Gradio was imported (Gradio reads
    # GRADIO_TEMP_DIR then for some of its folders, and when a page is built for its uploads).
    folder.claim()
    # Uploads that declare more pixels than nst accepts are refused from their header, undecoded.
    Image.MAX_IMAGE_PIXELS = nst.MAX_INPUT_PIXELS
    warnings.simplefilter("error", Image.DecompressionBombWarning)
    gpu.prepare()  # before ZeroGPU forks its worker from this process
    with saying(f"loading the weights ({nst.DEFAULT.weights} VGG19, on the {machine.label()})"):
        nst.load_model(nst.DEFAULT.weights, nst.DEFAULT.pooling, str(machine.device()))
    _prepared.append(True)
    return folder.claim()


def start() -> gr.Blocks:
    """The app of this process: set up (:func:`prepare`) and its page built, once; later
    calls return the same page."""
    global _demo
    if _demo is None:
        prepare()
        _demo = page.build_demo()
    return _demo


def launch_kwargs(share: bool = False) -> dict[str, Any]:
    """Keyword arguments for ``demo.launch``, shared by ``python app.py`` and the tests (server
    name and port are left to ``GRADIO_SERVER_NAME`` / ``GRADIO_SERVER_PORT``)."""
    return {
        "theme": gr.themes.Soft(primary_hue="indigo"),
        "css": page.CSS,
        "max_file_size": uploads.MAX_FILE_SIZE,
        "share": share,
        # Gradio's own refusals (a path not uploaded, a string where a file belongs) say why
        # instead of a bare "Error"; the run's failures are gr.Errors with nst's messages.
        "show_error": True,
        "run_history": False,  # uploaded photos and results are not kept in the browser
        "footer_links": ["api", "gradio", "settings"],
        # Every request body is capped too (a data: URL or the brush's blobs bypass /upload's cap).
        "app_kwargs": {
            "middleware": [Middleware(uploads.BodyLimit)],
            # The app's own files (results, painted masks, data: URL files) within the hour.
            "lifespan": budgets.sweeper(lambda: [parts.results_dir(), budgets.data_url_folder()]),
        },
    }


def serve(demo: gr.Blocks, share: bool = False, started: float | None = None) -> None:
    """Launch ``demo`` (:func:`launch_kwargs`), say where it serves, and serve until Ctrl-C
    or SIGTERM (then stop in order: see :func:`_serve_until_signalled`). ``started``: the
    ``time.perf_counter()`` of the process's start, for the start-up's own line."""
    # quiet: Gradio's own lines would say to set `share=True` in `launch()`; the app says
    # where it serves and its own switch instead (Gradio still prints a public link it makes).
    demo.launch(**launch_kwargs(share=share), quiet=True, prevent_thread_lock=True)
    started = time.perf_counter() if started is None else started
    print(f"nst is serving on {demo.local_url} (started in {time.perf_counter() - started:.1f} s)")
    if not share and not os.environ.get("SPACE_ID"):
        print("For a public link as well, run: python app.py --share")
    _serve_until_signalled(demo)


def _serve_until_signalled(demo: gr.Blocks) -> None:
    """Serve until Ctrl-C (SIGINT) or SIGTERM, then shut down in order and return, so that
    the process exits 0 through the interpreter's own exit (atexit removes the folder).

    The order matters: a run computes on a daemon thread (nst_web.background), and one still
    inside torch when the interpreter finalizes aborts the process ("terminate called
    without an active exception", status 134; see nst_web/background.py). So the runs are
    stopped and their threads joined, the server closed (no run starts after), and the
    runs joined again. A second signal while that lasts ends the process at once.
    """
    asked: list[int] = []  # the signals received

    def on_signal(signum: int, frame: Any) -> None:
        if asked:  # a second one: the user will not wait
            folder.release()
            os._exit(128 + signum)
        asked.append(signum)

    previous = {sig: signal.signal(sig, on_signal) for sig in (signal.SIGINT, signal.SIGTERM)}
    try:
        while demo.is_running and not asked:
            time.sleep(0.2)
        if asked:
            how = "Ctrl-C" if asked[0] == signal.SIGINT else signal.Signals(asked[0]).name
            print(f"nst: {how}: stopping the runs and the server (again to quit at once)…", flush=True)
        background.stop_all(timeout=10)
        demo.close(verbose=False)
        gradio_patches.close_tunnels()
        if not background.stop_all(timeout=10):
            # A run's thread is still inside one torch op after being told to stop. The
            # interpreter's exit would end that daemon thread through pthread_exit, whose
            # unwind through torch's noexcept C++ frames aborts the process (see
            # nst_web/background.py); os._exit ends every thread at once instead, without
            # unwinding them. What atexit would have done is done here: the folder goes.
            print("nst: a run did not stop in time; exiting without waiting for it", flush=True)
            folder.release()
            sys.stdout.flush()
            sys.stderr.flush()
            os._exit(0)
        if asked:
            print("nst: stopped", flush=True)
    finally:
        for sig, handler in previous.items():
            signal.signal(sig, handler)


def calibrate() -> None:
    """Time a few whole steps on this device (once per machine: nst keeps them), so that the
    first estimate holds; saying so. A failure leaves the estimates on nst's prior."""
    device = machine.device()
    cache = nst.cache_path()
    known = nst.is_calibrated(device, nst.DEFAULT.precision)
    try:
        with saying(
            f"step costs from this machine's calibration ({cache})"
            if known
            else f"calibrating: timing a few steps, once for this machine (kept in {cache})"
        ):
            nst.calibrate(device)
    except Exception as exc:  # the estimates keep the prior; the app serves all the same
        print(f"nst: calibration failed ({type(exc).__name__}: {exc}); estimates use the prior", flush=True)


def main(argv: list[str] | None = None, started: float | None = None) -> None:
    """``python app.py [--share]``: start, calibrate (not on ZeroGPU: no GPU in this process),
    serve until stopped. ``NST_SHARE=1`` also asks for the public link."""
    parser = argparse.ArgumentParser(prog="app.py", description="Serve the nst web app (127.0.0.1:7860 by default).")
    parser.add_argument("--share", action="store_true", help="also open a public gradio.live link (or NST_SHARE=1)")
    args = parser.parse_args(argv)
    started = time.perf_counter() if started is None else started
    demo = start()
    if not gpu.ON_ZERO_GPU:  # time a few whole steps, so that the first estimate holds (ZeroGPU: no GPU here)
        calibrate()
    serve(demo, share=args.share or os.environ.get("NST_SHARE") == "1", started=started)
