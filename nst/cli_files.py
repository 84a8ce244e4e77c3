"""The command line's checks of the files it will write, before any work: no input is
replaced, no run is lost at its end for a name it cannot write. Used by :mod:`nst.cli`."""

from __future__ import annotations

import argparse
from pathlib import Path

__all__ = ["check_files", "output_as_style"]


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
    return (
        f"{why}: every path after the content image is a style image (several are blended); "
        f"to write the result there, use -o {shlex.quote(last)} in its place"
    )


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
    if getattr(args, "video", False):
        if output.suffix.lower() not in (".mp4", ".gif"):
            return f"the content is a clip: the output must be a .mp4 or .gif file, not {args.output!r}"
    elif output.suffix.lower() != ".png":
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
    named = [
        ("the content image", args.content),
        *(("the style image", s) for s in args.style),
        *(("the mask", m) for m in args.masks or []),
        ("the keep mask", args.keep),
        ("the recipe", args.recipe),
        ("the weights file", getattr(args, "weights", None)),
    ]
    inputs = [(what, str(src)) for what, src in named if src]
    targets: list[tuple[str, Path, Path | None]] = [
        (f"the output {str(output)!r}", output, None)
    ]  # label, path, snapshot
    if args.save_every:
        # Every name a snapshot may take, not only those of this run's steps (its plan is
        # not made yet); the ones not there cannot replace anything and are passed over.
        for step in range(args.save_every, LIMITS.max_steps + 1, args.save_every):
            name = output.with_name(f"{output.stem}_{step:04d}.png")
            if os.path.lexists(name):
                targets.append((f"--save-every's image {str(name)!r}", name, name))
    for label, path, snapshot in targets:
        for what, src in inputs:
            if _same_file(path, src):
                if snapshot is None:
                    return (
                        f"the output {str(output)!r} is one of the inputs ({what} {src!r}); "
                        "choose another name so that it is not replaced"
                    )
                return (
                    f"--save-every would write over the input {src!r} at {str(snapshot)!r} "
                    f"(its images are named {output.stem}_<step>.png); choose another output name"
                )
        if path.is_symlink() and not path.exists():
            return (
                f"{label} is a link to {os.readlink(path)!r}, which does not exist: writing would create "
                "that file; name the file itself"
            )
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
