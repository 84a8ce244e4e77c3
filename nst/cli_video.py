"""The command line for a clip: ``python -m nst clip.mp4 painting.jpg -o out.mp4 [--fps F --start S --duration D]``.

:func:`nst.cli.main` comes here when the content is a clip (recognised by its content): the
clip is checked and planned (:func:`nst.video.prepare_video`), styled frame by frame with a
bar counting the frames, and written as it goes; Ctrl-C keeps the frames done.
"""

from __future__ import annotations

import argparse
import sys
import threading
import time
from pathlib import Path
from typing import Any

__all__ = ["run_video"]


def _fail(message: str) -> int:
    from .errors import short

    print(f"nst: error: {short(message)}", file=sys.stderr)
    return 2


def run_video(args: argparse.Namespace, overrides: dict[str, Any], stop: threading.Event, before: float) -> int:
    """Style the clip ``args.content`` into ``args.output``; returns the exit status (0 done,
    1 stopped or cut short, 2 bad input).

    Args:
        args: the parsed command line.
        overrides: the settings given.
        stop: set by Ctrl-C.
        before: seconds the process ran before this (a time limit is the whole command's).
    """
    from tqdm import tqdm

    from .errors import Error
    from .video import prepare_video

    if args.upscale is not None or args.save_every:
        return _fail("--upscale and --save-every are for photos, not clips")
    output = Path(args.output)
    style = args.style[0] if len(args.style) == 1 else args.style
    try:
        run = prepare_video(
            args.content,
            style,
            masks=args.masks,
            keep=args.keep,
            fps=args.fps,
            start=args.start or 0.0,
            duration=args.duration,
            **overrides,
        )
        run.started = time.perf_counter() - before
        if args.dry_run:
            print(
                f"plan: {run.frame_count} frames at {run.rate:g} fps, {run.first.output.width}×"
                f"{run.first.output.height} px; the first {run.settings.steps} steps, then {run.settings.frame_steps} each"
            )
            print(f"estimated seconds: {before + run.estimate():.0f}")
            return 0
        existed = output.exists()
        last = None
        with tqdm(total=run.frame_count, unit="frame", dynamic_ncols=True) as bar:
            for event in run.events(output, stop=stop):
                last = event
                if event.image is not None:
                    bar.update(event.frame - bar.n)
                if event.eta is not None:
                    bar.set_postfix({"left": f"{event.eta:.0f}s"}, refresh=False)
    except Error as exc:
        return _fail(str(exc))
    except OSError as exc:
        return _fail(f"cannot write {output}: {exc.strerror or exc}")
    assert last is not None and last.done
    if last.output is None:
        return _fail(last.note or "no frame was finished: nothing written")
    if last.note:
        print(f"nst: {last.note}", file=sys.stderr)
    print(
        f"{'replaced' if existed else 'saved'} {output} ({last.frame} frames at {last.rate:g} fps)",
        file=sys.stderr,
    )
    return 1 if last.stopped or last.note else 0
