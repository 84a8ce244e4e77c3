"""``python -m nst CONTENT STYLE [STYLE ...] [--mask M [M ...]] -o OUT.png``: the command line over
:func:`nst.stylize`.

Options are generated from :class:`nst.Settings`, so their defaults, choices and help
texts are the API's own. ``--recipe PNG`` takes the settings stored in an earlier result;
options after it override them.
"""

from __future__ import annotations

import argparse
import difflib
import sys
import time
import typing
import warnings
from pathlib import Path
from typing import Any

from .settings import field_info, field_names

__all__ = ["build_parser", "main"]

# Settings that are not options of their own on the command line.
_NOT_OPTIONS = {"preview_every"}


class _RecipeAction(argparse.Action):
    """``--recipe PNG``: set every option to the recipe's value, in command-line order, so
    that options before it are replaced by the recipe and options after it win."""

    def __call__(self, parser, namespace, value, option_string=None) -> None:
        from .recipe import RecipeError, read_recipe

        try:
            values = read_recipe(value)["settings"]
        except RecipeError as exc:
            parser.exit(2, f"nst: error: {exc}\n")
        for name, v in values.items():
            if name not in _NOT_OPTIONS:
                setattr(namespace, name, tuple(v) if isinstance(v, list) else v)
        namespace.recipe_file = value


class _Parser(argparse.ArgumentParser):
    """argparse with nst's one error prefix: ``nst: error: …`` after the usage line."""

    def error(self, message: str) -> typing.NoReturn:
        unknown = [a.split("=")[0] for a in message.partition("unrecognized arguments: ")[2].split() if a[:2] == "--"]
        options = [o for action in self._actions for o in action.option_strings]
        near = [m for a in unknown for m in difflib.get_close_matches(a, options, n=1)]
        if near:
            message += f" (did you mean {', '.join(near)}?)"
        self.print_usage(sys.stderr)
        self.exit(2, f"nst: error: {message}\n")


def build_parser() -> argparse.ArgumentParser:
    parser = _Parser(
        prog="python -m nst",
        description="Neural style transfer (Gatys et al.) on a frozen VGG19.",
        allow_abbrev=False,  # --step is a typo, not --steps
    )
    parser.add_argument("content", help="content image (its layout is kept)")
    parser.add_argument("style", nargs="+", help="style image(s) (their look is taken; several are blended)")
    parser.add_argument(
        "--mask", nargs="+", metavar="M", dest="masks", default=None,
        help="where each style goes: one greyscale mask per style image, in order, in the content "
        "image's frame; white is painted with that style, and where no mask is white the photo is kept",
    )
    parser.add_argument("-o", "--output", default="out.png", metavar="OUT.png",
                        help="output PNG, with its recipe (default: out.png)")
    parser.add_argument(
        "--recipe", action=_RecipeAction, metavar="PNG",
        help="re-use the settings stored in an nst result PNG; options after it override them",
    )
    parser.add_argument(
        "--upscale", type=float, default=None, metavar="FACTOR",
        help="continue the result given by --recipe to FACTOR times its size (2 or 4, say), "
        "adding the finer scales only; needs the result's content and style images",
    )
    parser.add_argument(
        "--save-every", type=int, default=0, metavar="K",
        help="also save the image every K steps, as OUTPUT_<step>.png",
    )
    parser.add_argument(
        "--dry-run", action="store_true",
        help="print the plan (each scale's size and steps) and the estimated seconds of the whole command; "
        "write no image",
    )
    for name in field_names():
        if name in _NOT_OPTIONS:
            continue
        info = field_info(name)
        default = info.default
        flag = "--" + name.replace("_", "-")
        if info.kind is bool:
            parser.add_argument(flag, action=argparse.BooleanOptionalAction, default=argparse.SUPPRESS,
                                help=f"{info.help} (default: {'on' if default else 'off'})")
            continue
        kind, nargs = info.kind, ("+" if info.many else None)
        shown = " ".join(map(str, default)) if isinstance(default, tuple) else default
        kwargs: dict[str, Any] = {
            "type": kind,
            "default": argparse.SUPPRESS,
            "help": info.help + ("" if default is None else f" (default: {shown})"),
            "metavar": name.split("_")[-1].upper(),
        }
        if nargs:
            kwargs["nargs"] = nargs
        if info.choices and kind is str and not nargs:
            kwargs["choices"] = info.choices
            kwargs.pop("metavar")
        parser.add_argument(flag, **kwargs)
    return parser


def _warn_line(message, *_: Any, **__: Any) -> None:
    print(f"nst: warning: {message}", file=sys.stderr)


def _fail(message: str) -> int:
    print(f"nst: error: {message}", file=sys.stderr)
    return 2


def _process_seconds() -> float:
    """Seconds since this process started (Python's start-up and imports), where Linux says."""
    try:
        with open("/proc/self/stat") as f:
            started = int(f.read().rsplit(")", 1)[1].split()[19])
        with open("/proc/uptime") as f:
            up = float(f.read().split()[0])
        import os

        return max(0.0, up - started / os.sysconf("SC_CLK_TCK"))
    except (OSError, ValueError, IndexError):
        return 2.0  # a typical start-up with torch imported


def _dry_run(args: argparse.Namespace, overrides: dict[str, Any]) -> int:
    """Print the plan and, last, ``estimated seconds: N`` of the same command without --dry-run."""
    from .pipeline import calibrate, prepare
    from .schedule import estimate_seconds

    style = args.style[0] if len(args.style) == 1 else args.style
    if args.upscale is not None:
        from .upscale import prepare_upscale

        run = prepare_upscale(args.recipe_file, args.content, style, args.upscale, masks=args.masks, **overrides)
    else:
        run = prepare(args.content, style, masks=args.masks, **overrides)
    before = _process_seconds()  # start-up, imports, the images: paid again by the real command
    t = time.perf_counter()
    cost = calibrate(run.device, run.settings.precision)  # loads the network and times whole steps
    s = run.settings
    print(f"plan: {s.steps} steps to {run.output.width}×{run.output.height} px on {run.device.type}"
          f"{' (coarse to fine)' if len(run.plan) > 1 else ''}")
    for i, (sc, mem) in enumerate(zip(run.plan, run.memory), 1):
        how = (f"{mem.tiles} tiles of {mem.core} px (+{mem.halo} px of context), ×{mem.work:.2f} the pixels"
               if mem.tiled else "whole")
        print(f"  scale {i}/{len(run.plan)}: {sc.wh[0]}×{sc.wh[1]} px, {sc.steps} steps, {how}, "
              f"{mem.peak / 1e9:.2f} GB")
    if s.time_limit is not None:
        print(f"  time limit: {s.time_limit:g} s (steps are cut to fit)")
    from .tiles import PROCESS_BYTES

    print(f"memory: {run.peak_memory / 1e9:.2f} GB at most for the run, about "
          f"{(run.peak_memory + PROCESS_BYTES) / 1e9:.1f} GB for the process "
          f"(max_memory {'%.2f GB' % s.max_memory if s.max_memory is not None else 'from free memory'})")
    print(f"cost: {cost.step[1]:.3g} s per megapixel-step + {cost.step[0]:.3g} s per step "
          f"({'measured' if cost.measured else 'assumed'} in {time.perf_counter() - t:.1f} s)")
    seconds = before + estimate_seconds(run.work_plan(), cost, setup=True, time_limit=s.time_limit)
    print(f"estimated seconds: {seconds:.0f}")
    return 0


def main(argv: list[str] | None = None) -> int:
    """Run the CLI; returns the exit status (0 done, 1 interrupted, 2 bad input)."""
    args = build_parser().parse_args(argv)
    overrides = {k: v for k, v in vars(args).items()
                 if k not in ("content", "style", "output", "save_every", "recipe", "dry_run", "masks",
                              "upscale", "recipe_file")}

    # Heavy imports after parsing, so that --help is instant.
    import signal
    import threading

    from tqdm import tqdm

    from .errors import Error, OutOfMemoryError, is_out_of_memory
    from .pipeline import stylize
    from .recipe import save_png

    output = Path(args.output)
    if output.suffix.lower() != ".png":
        return _fail(f"the output must be a .png file, not {args.output!r}")
    if not output.parent.is_dir():
        return _fail(f"the output folder {str(output.parent)!r} does not exist")
    if args.save_every < 0:
        return _fail("--save-every must be 0 or more")
    overrides["preview_every"] = args.save_every
    if args.upscale is not None:
        if getattr(args, "recipe_file", None) is None:
            return _fail("--upscale needs --recipe RESULT.png: the result to continue from")
        overrides.pop("size", None)  # the factor sets it

    bar = None
    last = None
    # Ctrl-C stops the run at once (within a layer) and keeps the image as it is; a second
    # Ctrl-C interrupts outright.
    stop = threading.Event()
    previous = None
    if threading.current_thread() is threading.main_thread():
        def on_interrupt(signum, frame):
            if stop.is_set():
                raise KeyboardInterrupt
            stop.set()

        previous = signal.signal(signal.SIGINT, on_interrupt)
    show_warning = warnings.showwarning
    try:
        warnings.showwarning = _warn_line  # nst's warnings (an all-black mask) as one line each
        if args.dry_run:
            return _dry_run(args, overrides)
        style = args.style[0] if len(args.style) == 1 else args.style
        if args.upscale is not None:
            from .upscale import upscale

            events = upscale(args.recipe_file, args.content, style, args.upscale, masks=args.masks, stop=stop,
                             **overrides)
        else:
            events = stylize(args.content, style, masks=args.masks, stop=stop, **overrides)
        for event in events:
            if bar is None:
                bar = tqdm(total=event.total, unit="step", dynamic_ncols=True)
            bar.update(event.step - bar.n)
            if event.losses:
                # The terms as the app's status shows them (content, β·J_style, total), and nst's ETA.
                bar.set_postfix({**{k: f"{v:.3g}" for k, v in event.terms.items()}, "left": f"{event.eta:.0f}s"},
                                refresh=False)
            if event.image is not None:
                last = event
                if not event.done:
                    event.image.save(output.with_name(f"{output.stem}_{event.step:04d}.png"))
        bar.close()
        save_png(last.image, output)
        if last.stopped:
            print(f"interrupted at step {last.step}; saved the image as it was to {output}", file=sys.stderr)
            return 1
        print(f"saved {output} ({last.image.width}×{last.image.height})", file=sys.stderr)
        return 0
    except Error as exc:  # every refusal and failure nst foresees: one line, no traceback
        if bar is not None:
            bar.close()
        return _fail(str(exc))
    except KeyboardInterrupt:
        if bar is not None:
            bar.close()
        if last is not None:
            save_png(last.image, output)
            print(f"interrupted; saved the last image to {output}", file=sys.stderr)
        return 1
    except (RuntimeError, MemoryError) as exc:
        if not is_out_of_memory(exc):  # out of memory outside the run itself, e.g. saving
            raise
        if bar is not None:
            bar.close()
        from .settings import DEFAULT

        return _fail(str(OutOfMemoryError(overrides.get("size", DEFAULT.size), "cpu")))
    except OSError as exc:
        return _fail(f"cannot write {output}: {exc.strerror or exc}")
    finally:
        warnings.showwarning = show_warning
        if previous is not None:
            signal.signal(signal.SIGINT, previous)


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
