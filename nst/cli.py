"""``python -m nst CONTENT STYLE [STYLE ...] [--mask M [M ...]] -o OUT.png``: the command line over
:func:`nst.stylize`.

Options are generated from :class:`nst.Settings`, so their defaults, choices and help
texts are the API's own. ``--recipe PNG`` takes the settings stored in an earlier result;
options given with it, before or after, override them.
"""

from __future__ import annotations

import argparse
import copy
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
    """``--recipe PNG``: the recipe's settings, kept apart (``namespace.recipe_settings``) so
    that every option given on the command line wins over them, before ``--recipe`` or after.
    They are :func:`nst.read_recipe`'s, which never include the weights, device or memory
    budget; what the recipe named of those is kept for `_recipe_notes` only."""

    def __call__(self, parser, namespace, value, option_string=None) -> None:
        from .recipe import RecipeError, read_recipe

        try:
            recipe = read_recipe(value)
        except RecipeError as exc:
            parser.exit(2, f"nst: error: {exc}\n")
        setattr(namespace, self.dest, value)
        namespace.recipe_settings = recipe["settings"]
        namespace.recipe_named = {**recipe["not_applied"], "masks": recipe.get("masks")}


class _MasksAction(argparse.Action):
    """``--mask M [M ...]``, which may also be given once per mask (``--mask a.png --mask b.png``):
    the masks of every use, in order."""

    def __call__(self, parser, namespace, values, option_string=None) -> None:
        setattr(namespace, self.dest, [*(getattr(namespace, self.dest, None) or []), *values])


class _Unparsed(Exception):
    """A trial parse's refusal (see `_Parser.parse_known_args`): argparse's message."""


class _Parser(argparse.ArgumentParser):
    """argparse with nst's one error prefix: ``nst: error: …`` after the usage line, and
    ``--mask M`` before the paths understood (`_paths_after_mask`)."""

    _trial = False

    def parse_known_args(self, args=None, namespace=None):  # type: ignore[override]
        if self._trial:
            return super().parse_known_args(args, namespace)
        argv = list(sys.argv[1:] if args is None else args)
        try:
            return self._try(argv, namespace)
        except _Unparsed as exc:
            refusal = str(exc)
        if refusal.startswith("the following arguments are required"):
            for candidate in _paths_after_mask(argv):
                try:
                    parsed, extras = self._try(candidate, namespace)
                except _Unparsed:
                    continue
                if len(parsed.masks) == len(parsed.style):
                    return parsed, extras
            message = _swallowed(argv)
            if message:
                self.error(message)
        return super().parse_known_args(argv, namespace)  # argparse's own refusal

    def _try(self, argv: list[str], namespace):
        """``argv`` parsed, or `_Unparsed` with argparse's message (nothing printed, no exit)."""
        self._trial = True
        try:
            return super().parse_known_args(argv, copy.copy(namespace))
        finally:
            self._trial = False

    def error(self, message: str) -> typing.NoReturn:
        from .errors import short

        if self._trial:
            raise _Unparsed(message)
        message = short(message)  # argparse echoes the value: a megabyte of it is not a line
        unknown = [a.split("=")[0] for a in message.partition("unrecognized arguments: ")[2].split() if a[:2] == "--"]
        options = [o for action in self._actions for o in action.option_strings]
        near = [m for a in unknown for m in difflib.get_close_matches(a, options, n=1)]
        if near:
            message += f" (did you mean {', '.join(near)}?)"
        self.print_usage(sys.stderr)
        self.exit(2, f"nst: error: {message}\n")


def _last_mask(argv: list[str]) -> tuple[int, int] | None:
    """Where the values of the last bare ``--mask`` are in ``argv`` (``argv[i:j]``), as argparse
    takes them: every word up to the next option (``--mask=M`` takes one only); None if none."""
    end = argv.index("--") if "--" in argv else len(argv)
    uses = [i for i, word in enumerate(argv[:end]) if word == "--mask"]
    if not uses:
        return None
    i = j = uses[-1] + 1
    while j < end and not (argv[j].startswith("-") and len(argv[j]) > 1):
        j += 1
    return i, j


def _paths_after_mask(argv: list[str]) -> list[list[str]]:
    """``--mask m.png photo.jpg painting.jpg``: argparse gives every path to --mask, and none is
    left for the content and style images. The readings of ``argv`` where the last of those
    words are paths instead (``--mask=m.png photo.jpg painting.jpg``), fewest first; the parser
    takes the one that leaves as many masks as style images, the count nst asks for."""
    where = _last_mask(argv)
    if where is None:
        return []
    i, j = where
    return [[*argv[:i - 1], *(f"--mask={m}" for m in argv[i:j - k]), *argv[j - k:]]
            for k in range(1, j - i)]


def _swallowed(argv: list[str]) -> str | None:
    """Why the content and style images are missing when a bare ``--mask`` took them, and how
    to write it; None when it did not."""
    where = _last_mask(argv)
    if where is None or where[1] - where[0] < 2:
        return None
    words = argv[where[0]:where[1]]
    return (f"--mask took every path after it ({', '.join(map(repr, words))}), so none was left for the "
            "content and style images; write the images first: "
            "python -m nst CONTENT STYLE [STYLE ...] --mask M [M ...] (one mask per style image, in order)")


def build_parser() -> argparse.ArgumentParser:
    parser = _Parser(
        prog="python -m nst",
        description="Neural style transfer (Gatys et al.) on a frozen VGG19.",
        allow_abbrev=False,  # --step is a typo, not --steps
    )
    parser.add_argument("content", help="content image (its layout is kept)")
    parser.add_argument("style", nargs="+", help="style image(s) (their look is taken; several are blended)")
    parser.add_argument(
        "--mask", nargs="+", action=_MasksAction, metavar="M", dest="masks", default=None,
        help="where each style goes: one greyscale mask per style image, in order, in the content "
        "image's frame; white is painted with that style, and where no mask is white the photo is kept "
        "(--mask a.png --mask b.png is the same as --mask a.png b.png)",
    )
    parser.add_argument(
        "--keep", metavar="M", default=None,
        help="a greyscale mask in the content image's frame: where it is white the photo's structure is "
        "kept (a face the detector missed, text, a logo), as faces are with --keep-faces",
    )
    parser.add_argument("-o", "--output", default="out.png", metavar="OUT.png",
                        help="output PNG, with its recipe (default: out.png)")
    parser.add_argument(
        "--recipe", action=_RecipeAction, metavar="PNG",
        help="re-use the settings stored in an nst result PNG; options given with it override them",
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
    from .errors import short

    print(f"nst: error: {short(message)}", file=sys.stderr)
    return 2


# Seconds a time limit keeps for what follows the result: writing the PNG and the process's exit.
SAVE_SECONDS = 0.3


def _recipe_notes(args: argparse.Namespace) -> list[str]:
    """One line for each thing the recipe named that this run does not use: its weights,
    device and memory budget (a recipe never chooses them), and its masks (images are not
    stored in recipes)."""
    import shlex

    from .errors import short
    from .settings import DEFAULT

    named = getattr(args, "recipe_named", None) or {}
    notes = []
    for name in ("weights", "device", "max_memory"):
        theirs, ours = named.get(name), getattr(args, name, getattr(DEFAULT, name))
        if theirs is None or _same_value(theirs, ours):
            continue
        # Quoted as a shell word: the suggestion is the recipe's text, which may be anything.
        flag = f"--{name.replace('_', '-')} {shlex.quote(theirs)}"
        if name == "weights":
            shown = "the embedded weights" if ours == DEFAULT.weights else f"weights {ours}"
            notes.append(f"the recipe ran on weights {theirs}; using {shown}; pass {flag} to use them")
        elif name == "device":
            notes.append(f"the recipe ran on device {theirs}; using {ours}; pass {flag} to use it")
        else:
            shown = f"{ours:g} GB" if ours is not None else "a budget from this machine's free memory"
            notes.append(f"the recipe ran with max_memory {theirs} GB; using {shown}; pass {flag} to use it")
    masks = named.get("masks")
    if masks and not args.masks:
        notes.append(f"the recipe's run had masks ({', '.join(masks)}); this run has none: pass --mask with them "
                     "to paint each style where it was")
    return [short(note) for note in notes]


def _same_value(theirs: str, ours: Any) -> bool:
    """Whether the recipe's ``theirs`` (text) names the value ``ours``: ``"38"`` is 38.0."""
    if isinstance(ours, float):
        try:
            return float(theirs) == ours
        except ValueError:
            return False
    return theirs == str(ours)


def output_as_style(args: argparse.Namespace) -> str | None:
    """``photo.jpg painting.jpg out.png``: every path after the content image is a style image,
    so a last one that is no file, or that is the output too, was most likely meant for ``-o``:
    the line that says so, or None."""
    import os
    import shlex

    if len(args.style) < 2:
        return None
    last = args.style[-1]
    if not os.path.lexists(last):
        if Path(last).suffix.lower() != ".png":
            return None  # a style image's name mistyped: loading it says it does not exist
        why = f"{last!r} is not a file"
    elif _same_file(Path(args.output), last):
        why = f"{last!r} is both the output and a style image"
    else:
        return None  # an image to blend, as written
    return (f"{why}: every path after the content image is a style image (several are blended); "
            f"to write the result there, use -o {shlex.quote(last)} in its place")


def check_files(args: argparse.Namespace) -> str | None:
    """Why the command cannot write its files without harm, or None: the one check of
    the output and of ``--save-every``'s images, before any work (the weights, the images),
    so that no input is replaced and no run is lost at its end.

    Refused: a name that is not ``.png``; a file that is one of the inputs (content, styles,
    masks, keep mask, recipe, weights file), by name, through a link or as a hard link; a
    link to nothing (writing would create a file wherever it points); a folder, a device or
    a pipe; a missing or read-only folder. Replacing an earlier result is allowed.
    """
    output = Path(args.output)
    if output.suffix.lower() != ".png":
        return f"the output must be a .png file, not {args.output!r}"
    if args.save_every < 0:
        return "--save-every must be 0 or more"
    try:
        return _check_targets(args, output)
    except OSError as exc:  # a name too long for the file system, a loop of links
        return f"cannot write {args.output!r}: {exc.strerror or exc}"


def _check_targets(args: argparse.Namespace, output: Path) -> str | None:
    import os
    import stat

    from .settings import LIMITS

    folder = output.parent
    if not folder.is_dir():
        return f"the output folder {str(folder)!r} does not exist"
    if not os.access(folder, os.W_OK | os.X_OK):
        return f"the output folder {str(folder)!r} is not writable"
    named = [("the content image", args.content), *(("the style image", s) for s in args.style),
             *(("the mask", m) for m in args.masks or []), ("the keep mask", args.keep),
             ("the recipe", args.recipe), ("the weights file", getattr(args, "weights", None))]
    inputs = [(what, str(src)) for what, src in named if src]
    targets = [(f"the output {str(output)!r}", output, None)]
    if args.save_every:
        # Every name a snapshot may take, not only those of this run's steps (its plan is
        # not made yet); the ones not there cannot replace anything and are passed over.
        for step in range(args.save_every, LIMITS.max_steps + 1, args.save_every):
            snapshot = output.with_name(f"{output.stem}_{step:04d}.png")
            if os.path.lexists(snapshot):
                targets.append((f"--save-every's image {str(snapshot)!r}", snapshot, snapshot))
    for label, path, snapshot in targets:
        for what, src in inputs:
            if _same_file(path, src):
                if snapshot is None:
                    return (f"the output {str(output)!r} is one of the inputs ({what} {src!r}); "
                            "choose another name so that it is not replaced")
                return (f"--save-every would write over the input {src!r} at {str(snapshot)!r} "
                        f"(its images are named {output.stem}_<step>.png); choose another output name")
        if path.is_symlink() and not path.exists():
            return (f"{label} is a link to {os.readlink(path)!r}, which does not exist: writing would create "
                    "that file; name the file itself")
        if not path.exists():
            continue
        mode = path.stat().st_mode  # of what a link leads to: what would be written
        if stat.S_ISDIR(mode):
            return f"{label} is a folder"
        if not stat.S_ISREG(mode):
            return f"{label} is not a regular file (a device or a pipe)"
        if not os.access(path, os.W_OK):
            return f"{label} cannot be written (permission denied)"
    return None


def _same_file(path: Path, src: str) -> bool:
    """Whether writing ``path`` would replace the input ``src``: the same file by any name
    (a link, a hard link, ``./x``), or, where either is not there yet, the same resolved path."""
    import os

    try:
        if os.path.exists(path) and os.path.exists(src):
            return os.path.samefile(path, src)
        return os.path.realpath(path) == os.path.realpath(src)
    except (OSError, ValueError):  # an input that cannot be looked at: loading it says why
        return False


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
    from . import calibration_cache
    from .device import autocast_dtype, dtype_name
    from .faces import describe
    from .memory import PROCESS_BYTES, memory_plans, work_plan
    from .pipeline import calibrate, prepare
    from .schedule import estimate_seconds
    from .timelimit import BUDGET_MARGIN, fit_plan
    from .vgg import min_input_size

    style = args.style[0] if len(args.style) == 1 else args.style
    if args.upscale is not None:
        from .upscale import prepare_upscale

        run = prepare_upscale(args.recipe, args.content, style, args.upscale, masks=args.masks, keep=args.keep,
                              **overrides)
    else:
        run = prepare(args.content, style, masks=args.masks, keep=args.keep, **overrides)
    before = _process_seconds()  # start-up, imports, the images: paid again by the real command
    t = time.perf_counter()
    s = run.settings
    precision = dtype_name(autocast_dtype(s.precision, run.device))
    hit = calibration_cache.load(run.device, precision) is not None
    cost = calibrate(run.device, s.precision)  # this machine's cached costs, else times whole steps once
    plan, note = run.plan, None
    if s.time_limit is not None and run.start is None:  # as the run will fit it: what is left after start-up and loading
        fitted = fit_plan(run.content.size, s.size, s.steps, cost,
                          (s.time_limit - before - cost.setup - SAVE_SECONDS) * BUDGET_MARGIN,
                          multiscale=s.multiscale, min_side=min_input_size([s.content_layer, *s.style_layers]))
        plan, note = fitted.plan, fitted.note
    memory = run.memory if plan == run.plan else memory_plans(plan, s, run.device, run.masks is not None)  # the tiles of the plan that runs
    steps = sum(sc.steps for sc in plan)
    print(f"plan: {steps} steps to {run.output.width}×{run.output.height} px on {run.device.type}"
          f"{' (coarse to fine)' if len(plan) > 1 else ''}")
    for i, (sc, mem) in enumerate(zip(plan, memory), 1):
        how = (f"{mem.tiles} tiles of {mem.core} px (+{mem.halo} px of context), ×{mem.work:.2f} the pixels"
               if mem.tiled else "whole")
        print(f"  scale {i}/{len(plan)}: {sc.wh[0]}×{sc.wh[1]} px, {sc.steps} steps, {how}, {mem.peak / 1e9:.2f} GB")
    if s.keep_faces:
        print(f"  faces kept: {describe(run.faces)}")
    if s.time_limit is not None:
        print(f"  time limit: {s.time_limit:g} s for the whole command" + (f"; {note}" if note else ""))
    peak = max(m.peak for m in memory)
    print(f"memory: {peak / 1e9:.2f} GB at most for the run, about {(peak + PROCESS_BYTES) / 1e9:.1f} GB for the "
          f"process (max_memory {f'{s.max_memory:.2f} GB' if s.max_memory is not None else 'from free memory'})")
    where = (f"from this machine's calibration cache ({calibration_cache.cache_path()})" if hit
             else f"measured in {time.perf_counter() - t:.1f} s, kept in {calibration_cache.cache_path()}")
    print(f"cost: {cost.step[1]:.3g} s per megapixel-step + {cost.step[0]:.3g} s per step ({where})")
    seconds = before + estimate_seconds(work_plan(plan, memory), cost, setup=True) + SAVE_SECONDS
    if s.time_limit is not None:
        seconds = min(seconds, s.time_limit)
    print(f"estimated seconds: {seconds:.0f}")
    return 0


def main(argv: list[str] | None = None) -> int:
    """Run the CLI; returns the exit status (0 done, 1 interrupted, 2 bad input)."""
    args = build_parser().parse_args(argv)
    given = {k: v for k, v in vars(args).items()
             if k not in ("content", "style", "output", "save_every", "recipe", "dry_run", "masks", "keep",
                          "recipe_settings", "recipe_named", "upscale")}
    overrides = {**getattr(args, "recipe_settings", {}), **given}  # options given win over the recipe

    # Heavy imports after parsing, so that --help is instant.
    import signal
    import threading

    from tqdm import tqdm

    from .errors import Error, OutOfMemoryError, is_out_of_memory
    from .pipeline import blend_mismatch, prepare
    from .recipe import save_png

    output = Path(args.output)
    # A dry run too: it foretells the command, refusal included.
    problem = output_as_style(args) or check_files(args)
    if problem:
        return _fail(problem)
    for note in _recipe_notes(args):
        print(f"nst: note: {note}", file=sys.stderr)
    overrides["preview_every"] = args.save_every
    if args.upscale is not None:
        if args.recipe is None:
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
        blend = overrides.get("style_blend")
        if isinstance(blend, (list, tuple)) and len(blend) != len(args.style):  # named as the option, not the setting
            return _fail(blend_mismatch("--style-blend", len(blend), len(args.style)))
        if args.dry_run:
            return _dry_run(args, overrides)
        style = args.style[0] if len(args.style) == 1 else args.style
        if args.upscale is not None:
            from .upscale import prepare_upscale

            run = prepare_upscale(args.recipe, args.content, style, args.upscale, masks=args.masks, keep=args.keep,
                                  **overrides)
        else:
            run = prepare(args.content, style, masks=args.masks, keep=args.keep, **overrides)
        # A time limit is the whole command's: from the process's start, with the PNG's writing kept.
        run.started, run.reserve = time.perf_counter() - _process_seconds(), SAVE_SECONDS
        existed = output.exists()
        note = None
        for event in run.events(stop=stop):
            if bar is None:
                bar = tqdm(total=event.total, unit="step", dynamic_ncols=True)
            if event.note and event.note != note and not event.done:
                note = event.note
                bar.write(f"nst: {note}", file=sys.stderr)
            if event.losses and event.step > bar.n:
                # The terms as the app's status shows them (content, β·J_style, total), and nst's
                # ETA, set before the step is drawn: the bar draws each step once, with its own terms.
                bar.set_postfix({**{k: f"{v:.3g}" for k, v in event.terms.items()}, "left": f"{event.eta:.0f}s"},
                                refresh=False)
                bar.update(event.step - bar.n)
            if event.done and not event.stopped and bar.total != event.total:
                bar.total = event.total  # the time limit ended it here: the bar ends full
                bar.refresh()
            if event.image is not None:
                last = event
                if not event.done:
                    event.image.save(output.with_name(f"{output.stem}_{event.step:04d}.png"))
        bar.close()
        save_png(last.image, output)
        if last.stopped:
            print(f"interrupted at step {last.step}; saved the image as it was to {output}", file=sys.stderr)
            return 1
        if last.note and last.note != note:  # a busy machine cut more than the plan did
            print(f"nst: {last.note}", file=sys.stderr)
        # The default out.png is easily overwritten without meaning to: say so.
        print(f"{'replaced' if existed else 'saved'} {output} ({last.image.width}×{last.image.height}, "
              f"{last.step} step{'s' if last.step != 1 else ''})", file=sys.stderr)
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
        if bar is None:  # before the first step: the weights or the images, not the run's size
            return _fail("out of memory before the run started (loading the weights or the images); "
                         "close other programs, or give smaller images")
        bar.close()
        from .settings import DEFAULT

        return _fail(str(OutOfMemoryError(overrides.get("size", DEFAULT.size), "cpu")))
    except OSError as exc:
        return _fail(f"cannot write {output}: {exc.strerror or exc}")
    finally:
        warnings.showwarning = show_warning
        if previous is not None:
            signal.signal(signal.SIGINT, previous)


def console() -> None:
    """The ``nst`` command (pyproject's console script) and ``python -m nst``."""
    sys.exit(main())


if __name__ == "__main__":  # pragma: no cover
    console()
