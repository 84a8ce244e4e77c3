"""``python -m nst CONTENT STYLE [STYLE ...] [--mask M [M ...]] -o OUT.png``: the command line over
:func:`nst.stylize`.

Options are generated from :class:`nst.Settings`, so their defaults, choices and help
texts are the API's own. ``--recipe PNG`` takes the settings stored in an earlier result;
options given with it, before or after, override them.

:func:`main` runs in phases: the arguments (:mod:`nst.cli_args`), the checks of the files
it will write (:mod:`nst.cli_files`), then, here, the run prepared, run with its progress
shown, and its image written.
"""

from __future__ import annotations

import argparse
import atexit
import contextlib
import os
import sys
import time
import warnings
from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING, Any

from .cli_args import build_parser, recipe_notes, settings_given
from .cli_files import check_files, output_as_style

if TYPE_CHECKING:
    import threading

    from PIL import Image

    from .pipeline import PreparedRun, Progress

__all__ = ["build_parser", "check_files", "main", "console"]


def _warn_line(message, *_: Any, **__: Any) -> None:
    print(f"nst: warning: {message}", file=sys.stderr)


def _fail(message: str) -> int:
    from .errors import short

    print(f"nst: error: {short(message)}", file=sys.stderr)
    return 2


# Seconds a time limit keeps for what follows the result, writing the PNG and the process's
# exit: a fixed part, and a part per megapixel of the PNG (zlib's, about 0.3 s a megapixel on
# a 2-core cloud CPU; docs/performance.md, "The last scale keeps no margin").
SAVE_SECONDS = (0.05, 0.4)


def _save_seconds(wh: tuple[int, int]) -> float:
    """Seconds kept for writing a ``wh`` result and exiting (:data:`SAVE_SECONDS`)."""
    return SAVE_SECONDS[0] + SAVE_SECONDS[1] * wh[0] * wh[1] / 1e6


def _process_seconds() -> float:
    """Seconds since this process started (Python's start-up and imports), where Linux says."""
    try:
        with open("/proc/self/stat") as f:
            started = int(f.read().rsplit(")", 1)[1].split()[19])
        with open("/proc/uptime") as f:
            up = float(f.read().split()[0])
        return max(0.0, up - started / os.sysconf("SC_CLK_TCK"))
    except (OSError, ValueError, IndexError):
        return 2.0  # a typical start-up with torch imported


def _prepare(args: argparse.Namespace, overrides: dict[str, Any]) -> PreparedRun:
    """The run checked and planned (:func:`nst.pipeline.prepare`), or the upscale of ``--recipe``'s result."""
    from .pipeline import prepare

    style = args.style[0] if len(args.style) == 1 else args.style
    if args.upscale is not None:
        from .upscale import prepare_upscale

        return prepare_upscale(
            args.recipe, args.content, style, args.upscale, masks=args.masks, keep=args.keep, **overrides
        )
    return prepare(args.content, style, masks=args.masks, keep=args.keep, **overrides)


def _dry_run(args: argparse.Namespace, overrides: dict[str, Any]) -> int:
    """Print the plan and, last, ``estimated seconds: N`` of the same command without --dry-run."""
    from . import calibration_cache
    from .device import autocast_dtype, dtype_name
    from .faces import describe
    from .memory import PROCESS_BYTES, memory_plans, work_plan
    from .pipeline import calibrate
    from .schedule import estimate_seconds
    from .timelimit import BUDGET_MARGIN, fit_plan
    from .vgg import min_input_size

    run = _prepare(args, overrides)
    before = _process_seconds()  # start-up, imports, the images: paid again by the real command
    t = time.perf_counter()
    s = run.settings
    precision = dtype_name(autocast_dtype(s.precision, run.device))
    hit = calibration_cache.load(run.device, precision) is not None
    cost = calibrate(run.device, s.precision)  # this machine's cached costs, else times whole steps once
    plan, note = run.plan, None
    if (
        s.time_limit is not None and run.start is None
    ):  # as the run will fit it: what is left after start-up and loading
        fitted = fit_plan(
            run.content.size,
            s.size,
            s.steps,
            cost,
            (s.time_limit - before - cost.setup - _save_seconds(run.output.size)) * BUDGET_MARGIN,
            multiscale=s.multiscale,
            min_side=min_input_size([s.content_layer, *s.style_layers]),
        )
        plan, note = fitted.plan, fitted.note
    memory = (
        run.memory if plan == run.plan else memory_plans(plan, s, run.device, run.masks is not None)
    )  # the tiles of the plan that runs
    steps = sum(sc.steps for sc in plan)
    print(
        f"plan: {steps} steps to {run.output.width}×{run.output.height} px on {run.device.type}"
        f"{' (coarse to fine)' if len(plan) > 1 else ''}"
    )
    for i, (sc, mem) in enumerate(zip(plan, memory), 1):
        how = (
            f"{mem.tiles} tiles of {mem.core} px (+{mem.halo} px of context), ×{mem.work:.2f} the pixels"
            if mem.tiled
            else "whole"
        )
        print(f"  scale {i}/{len(plan)}: {sc.wh[0]}×{sc.wh[1]} px, {sc.steps} steps, {how}, {mem.peak / 1e9:.2f} GB")
    if s.keep_faces:
        print(f"  faces kept: {describe(run.faces)}")
    if s.time_limit is not None:
        print(f"  time limit: {s.time_limit:g} s for the whole command" + (f"; {note}" if note else ""))
    peak = max(m.peak for m in memory)
    print(
        f"memory: {peak / 1e9:.2f} GB at most for the run, about {(peak + PROCESS_BYTES) / 1e9:.1f} GB for the "
        f"process (max_memory {f'{s.max_memory:.2f} GB' if s.max_memory is not None else 'from free memory'})"
    )
    where = (
        f"from this machine's calibration cache ({calibration_cache.cache_path()})"
        if hit
        else f"measured in {time.perf_counter() - t:.1f} s, kept in {calibration_cache.cache_path()}"
    )
    print(f"cost: {cost.step[1]:.3g} s per megapixel-step + {cost.step[0]:.3g} s per step ({where})")
    seconds = before + estimate_seconds(work_plan(plan, memory), cost, setup=True) + _save_seconds(run.output.size)
    if s.time_limit is not None:
        seconds = min(seconds, s.time_limit)
    print(f"estimated seconds: {seconds:.0f}")
    return 0


def main(argv: list[str] | None = None) -> int:
    """Run the CLI; returns the exit status (0 done, 1 interrupted, 2 bad input)."""
    # Parse (heavy imports after it, so that --help is instant).
    args = build_parser().parse_args(argv)
    overrides = settings_given(args)
    args.video = _is_clip(args.content)
    if args.video and args.output == "out.png":  # the default output, for a clip
        args.output = "out.mp4"
    if not args.video and Path(args.output).suffix.lower() in (".mp4", ".gif"):
        return _fail(_not_a_clip(args.content))  # a clip was meant: say why it is not one
    # Check the files it will write, before any work; a dry run too: it foretells the
    # command, refusal included.
    problem = output_as_style(args) or check_files(args)
    if problem:
        return _fail(problem)
    for note in recipe_notes(args):
        print(f"nst: note: {note}", file=sys.stderr)
    overrides["preview_every"] = args.save_every
    if args.upscale is not None:
        if args.recipe is None:
            return _fail("--upscale needs --recipe RESULT.png: the result to continue from")
        overrides.pop("size", None)  # the factor sets it
    # Prepare, run, write.
    with _ctrl_c_stops() as stop, _warnings_as_lines():
        if args.video:
            from .cli_video import run_video

            return run_video(args, overrides, stop, _process_seconds())
        if any(getattr(args, k) is not None for k in ("fps", "start", "duration")):
            return _fail("--fps, --start and --duration are for a clip; the content is not one")
        return _run(args, overrides, stop)


def _not_a_clip(path: str) -> str:
    """Why the content, given with a clip's output, is not a clip nst can read."""
    from .videoio import VideoError, probe

    try:
        probe(path, "content")
    except VideoError as exc:
        return f"{exc}; an .mp4 or .gif output is for a clip"
    return f"the content {Path(path).name!r} is a still image; an .mp4 or .gif output is for a clip"


def _is_clip(path: str) -> bool:
    """Whether the content is a clip, by its content (nst.videoio.is_video)."""
    from .videoio import is_video

    return is_video(path)


@contextlib.contextmanager
def _ctrl_c_stops() -> Iterator[threading.Event]:
    """Ctrl-C stops the run at once (within a layer) and keeps the image as it is; a second
    Ctrl-C interrupts outright. Off the main thread no handler can be set: the event stays unset."""
    import signal
    import threading

    stop = threading.Event()
    if threading.current_thread() is not threading.main_thread():
        yield stop
        return

    def on_interrupt(signum, frame):
        if stop.is_set():
            raise KeyboardInterrupt
        stop.set()

    previous = signal.signal(signal.SIGINT, on_interrupt)
    try:
        yield stop
    finally:
        if previous is not None:  # None: a handler not set from Python, which cannot be put back
            signal.signal(signal.SIGINT, previous)


@contextlib.contextmanager
def _warnings_as_lines() -> Iterator[None]:
    """nst's warnings (an all-black mask) as one line each."""
    show_warning = warnings.showwarning
    warnings.showwarning = _warn_line
    try:
        yield
    finally:
        warnings.showwarning = show_warning


def _run(args: argparse.Namespace, overrides: dict[str, Any], stop: threading.Event) -> int:
    """Prepare the run, run it with its progress shown, write its image; every failure nst
    foresees (and Ctrl-C, and running out of memory) as one line and an exit status."""
    from .errors import Error, OutOfMemoryError, is_out_of_memory
    from .pipeline import blend_mismatch

    output = Path(args.output)
    shown = _Shown(output)
    try:
        blend = overrides.get("style_blend")
        if isinstance(blend, (list, tuple)) and len(blend) != len(args.style):  # named as the option, not the setting
            return _fail(blend_mismatch("--style-blend", len(blend), len(args.style)))
        if args.dry_run:
            return _dry_run(args, overrides)
        run = _prepare(args, overrides)
        # A time limit is the whole command's: from the process's start, with the PNG's writing kept.
        run.started, run.reserve = time.perf_counter() - _process_seconds(), _save_seconds(run.output.size)
        existed = output.exists()
        for event in run.events(stop=stop):
            shown.event(event)
        shown.close()
        return _write(shown, existed)
    except Error as exc:  # every refusal and failure nst foresees: one line, no traceback
        shown.close()
        return _fail(str(exc))
    except KeyboardInterrupt:
        shown.close()
        if shown.image is not None:
            from .recipe import save_png

            save_png(shown.image, output)
            print(f"interrupted; saved the last image to {output}", file=sys.stderr)
        return 1
    except (RuntimeError, MemoryError) as exc:
        if not is_out_of_memory(exc):  # out of memory outside the run itself, e.g. saving
            raise
        if shown.bar is None:  # before the first step: the weights or the images, not the run's size
            return _fail(
                "out of memory before the run started (loading the weights or the images); "
                "close other programs, or give smaller images"
            )
        shown.close()
        from .settings import DEFAULT

        return _fail(str(OutOfMemoryError(overrides.get("size", DEFAULT.size), "cpu")))
    except OSError as exc:
        return _fail(f"cannot write {output}: {exc.strerror or exc}")


class _Shown:
    """The run as the terminal shows it: tqdm's bar with each step's terms and ETA, the
    run's notes, and ``--save-every``'s images; the last event with an image, and its image."""

    def __init__(self, output: Path) -> None:
        self.output = output
        self.bar: Any = None  # tqdm's, from the first event
        self.note: str | None = None  # the last note shown
        self.last: Progress | None = None
        self.image: Image.Image | None = None

    def event(self, event: Progress) -> None:
        if self.bar is None:
            from tqdm import tqdm

            self.bar = tqdm(total=event.total, unit="step", dynamic_ncols=True)
        bar = self.bar
        if event.note and event.note != self.note and not event.done:
            self.note = event.note
            bar.write(f"nst: {self.note}", file=sys.stderr)
        if event.losses and event.step > bar.n:
            # The terms as the app's status shows them (content, β·J_style, total), and nst's
            # ETA, set before the step is drawn: the bar draws each step once, with its own terms.
            bar.set_postfix(
                {**{k: f"{v:.3g}" for k, v in event.terms.items()}, "left": f"{event.eta:.0f}s"}, refresh=False
            )
            bar.update(event.step - bar.n)
        if event.done and not event.stopped and bar.total != event.total:
            bar.total = event.total  # the time limit ended it here: the bar ends full
            bar.refresh()
        if event.image is not None:
            self.last, self.image = event, event.image
            if not event.done:
                event.image.save(self.output.with_name(f"{self.output.stem}_{event.step:04d}.png"))

    def close(self) -> None:
        if self.bar is not None:
            self.bar.close()


def _write(shown: _Shown, existed: bool) -> int:
    """Write the result (or the image as it was when Ctrl-C stopped the run) and say so."""
    from .recipe import save_png

    last, image, output = shown.last, shown.image, shown.output
    assert last is not None and image is not None, "a run's last event has its image"
    save_png(image, output)
    if last.stopped:
        print(f"interrupted at step {last.step}; saved the image as it was to {output}", file=sys.stderr)
        return 1
    if last.note and last.note != shown.note:  # a busy machine cut more than the plan did
        print(f"nst: {last.note}", file=sys.stderr)
    # The default out.png is easily overwritten without meaning to: say so.
    print(
        f"{'replaced' if existed else 'saved'} {output} ({image.width}×{image.height}, "
        f"{last.step} step{'s' if last.step != 1 else ''})",
        file=sys.stderr,
    )
    return 0


def console() -> None:
    """The ``nst`` command (pyproject's console script) and ``python -m nst``.

    Once the result is written, the process ends without the interpreter's teardown
    (unloading torch and giving its memory back one object at a time: 0.4–0.8 s on a 2-core
    CPU, a tenth of a 5 s time limit, which counts to the process's end): the streams are
    flushed and the exit handlers run, then the process exits with the command's status.
    """
    code = main()
    sys.stdout.flush()
    sys.stderr.flush()
    atexit._run_exitfuncs()  # what sys.exit would run first (logging's flush, tqdm's, the caller's)
    os._exit(code)


if __name__ == "__main__":  # pragma: no cover
    console()
