"""The command line's arguments: the parser, with nst's error lines and the recovery of
paths a bare ``--mask`` took, the settings the options and ``--recipe`` give, and the notes
on what a recipe named that the run does not use. Used by :mod:`nst.cli`.

Options are generated from :class:`nst.Settings`, so their defaults, choices and help
texts are the API's own. ``--recipe PNG`` takes the settings stored in an earlier result;
options given with it, before or after, override them.
"""

from __future__ import annotations

import argparse
import copy
import difflib
import sys
import typing
from typing import Any

from .settings import field_info, field_names

__all__ = ["build_parser", "settings_given", "recipe_notes"]

# Settings that are not options of their own on the command line.
_NOT_OPTIONS = {"preview_every"}


class _RecipeAction(argparse.Action):
    """``--recipe PNG``: the recipe's settings, kept apart (``namespace.recipe_settings``) so
    that every option given on the command line wins over them, before ``--recipe`` or after.
    They are :func:`nst.read_recipe`'s, which never include the weights, device or memory
    budget; what the recipe named of those is kept for `recipe_notes` only."""

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
    return [[*argv[: i - 1], *(f"--mask={m}" for m in argv[i : j - k]), *argv[j - k :]] for k in range(1, j - i)]


def _swallowed(argv: list[str]) -> str | None:
    """Why the content and style images are missing when a bare ``--mask`` took them, and how
    to write it; None when it did not."""
    where = _last_mask(argv)
    if where is None or where[1] - where[0] < 2:
        return None
    words = argv[where[0] : where[1]]
    return (
        f"--mask took every path after it ({', '.join(map(repr, words))}), so none was left for the "
        "content and style images; write the images first: "
        "python -m nst CONTENT STYLE [STYLE ...] --mask M [M ...] (one mask per style image, in order)"
    )


# Over 80 lines: one add_argument per option, in the order --help shows them.
def build_parser() -> argparse.ArgumentParser:
    parser = _Parser(
        prog="python -m nst",
        description="Neural style transfer (Gatys et al.) on a frozen VGG19.",
        allow_abbrev=False,  # --step is a typo, not --steps
    )
    parser.add_argument(
        "content", help="content image (its layout is kept), or a clip (MP4, WebM, MOV, animated GIF/WebP)"
    )
    parser.add_argument("style", nargs="+", help="style image(s) (their look is taken; several are blended)")
    parser.add_argument(
        "--mask",
        nargs="+",
        action=_MasksAction,
        metavar="M",
        dest="masks",
        default=None,
        help="where each style goes: one greyscale mask per style image, in order, in the content "
        "image's frame; white is painted with that style, and where no mask is white the photo is kept "
        "(--mask a.png --mask b.png is the same as --mask a.png b.png)",
    )
    parser.add_argument(
        "--keep",
        metavar="M",
        default=None,
        help="a greyscale mask in the content image's frame: where it is white the photo's structure is "
        "kept (a face the detector missed, text, a logo), as faces are with --keep-faces",
    )
    parser.add_argument(
        "-o",
        "--output",
        default="out.png",
        metavar="OUT.png",
        help="output PNG, with its recipe (default: out.png); for a clip, .mp4 (H.264, with its audio) or .gif "
        "(default: out.mp4)",
    )
    for flag, what in (
        ("--fps", "a clip: frames per second taken (default: the clip's own, at most 24)"),
        ("--start", "a clip: seconds into it where the frames start (default: 0)"),
        ("--duration", "a clip: seconds of it to style (default: to its end)"),
    ):
        parser.add_argument(flag, type=float, default=None, metavar=flag[2:].upper()[0], help=what)
    parser.add_argument(
        "--recipe",
        action=_RecipeAction,
        metavar="PNG",
        help="re-use the settings stored in an nst result PNG; options given with it override them",
    )
    parser.add_argument(
        "--upscale",
        type=float,
        default=None,
        metavar="FACTOR",
        help="continue the result given by --recipe to FACTOR times its size (2 or 4, say), "
        "adding the finer scales only; needs the result's content and style images",
    )
    parser.add_argument(
        "--save-every",
        type=int,
        default=0,
        metavar="K",
        help="also save the image every K steps, as OUTPUT_<step>.png",
    )
    parser.add_argument(
        "--dry-run",
        action="store_true",
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
            parser.add_argument(
                flag,
                action=argparse.BooleanOptionalAction,
                default=argparse.SUPPRESS,
                help=f"{info.help} (default: {'on' if default else 'off'})",
            )
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


# The arguments that are not settings: what the command does with its files and the recipe.
_NOT_SETTINGS = (
    "content",
    "style",
    "output",
    "save_every",
    "recipe",
    "dry_run",
    "masks",
    "keep",
    "recipe_settings",
    "recipe_named",
    "upscale",
    "fps",
    "start",
    "duration",
    "video",
)


def settings_given(args: argparse.Namespace) -> dict[str, Any]:
    """The settings of the command: the recipe's, overridden by every option given."""
    given = {k: v for k, v in vars(args).items() if k not in _NOT_SETTINGS}
    return {**getattr(args, "recipe_settings", {}), **given}  # options given win over the recipe


def recipe_notes(args: argparse.Namespace) -> list[str]:
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
        notes.append(
            f"the recipe's run had masks ({', '.join(masks)}); this run has none: pass --mask with them "
            "to paint each style where it was"
        )
    return [short(note) for note in notes]


def _same_value(theirs: str, ours: Any) -> bool:
    """Whether the recipe's ``theirs`` (text) names the value ``ours``: ``"38"`` is 38.0."""
    if isinstance(ours, float):
        try:
            return float(theirs) == ours
        except ValueError:
            return False
    return theirs == str(ours)
