"""``python -m nst CONTENT STYLE [STYLE ...] [--mask M [M ...]] -o OUT.png``: the command line over
:func:`nst.stylize`.

Options are generated from :class:`nst.Settings`, so their defaults, choices and help
texts are the API's own. ``--recipe PNG`` takes the settings stored in an earlier result;
options after it override them.
"""

from __future__ import annotations

import argparse
import dataclasses
import sys
import typing
import warnings
from pathlib import Path
from typing import Any

from .settings import DEFAULT, Settings

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


def _option_type(name: str) -> tuple[Any, str | None]:
    """(argparse type, nargs) for a Settings field, from its annotation."""
    hint = str(typing.get_type_hints(Settings)[name])
    if "tuple" in hint:
        return (float if "float" in hint else str), "+"
    if "int" in hint and "float" not in hint:
        return int, None
    if "float" in hint:
        return float, None
    return str, None


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="python -m nst",
        description="Neural style transfer (Gatys et al.) on a frozen VGG19.",
    )
    parser.add_argument("content", help="content image (its layout is kept)")
    parser.add_argument("style", nargs="+", help="style image(s) (their look is taken; several are blended)")
    parser.add_argument(
        "--mask", nargs="+", metavar="M", dest="masks", default=None,
        help="where each style goes: one greyscale mask per style image, in order, in the content "
        "image's frame; white is painted with that style, and where no mask is white the photo is kept",
    )
    parser.add_argument("-o", "--output", default="out.png", help="output PNG, with its recipe (default: out.png)")
    parser.add_argument(
        "--recipe", action=_RecipeAction, metavar="PNG",
        help="re-use the settings stored in an nst result PNG; options after it override them",
    )
    parser.add_argument(
        "--save-every", type=int, default=0, metavar="K",
        help="also save the image every K steps, as OUTPUT_<step>.png",
    )
    for f in dataclasses.fields(Settings):
        if f.name in _NOT_OPTIONS:
            continue
        default = getattr(DEFAULT, f.name)
        flag = "--" + f.name.replace("_", "-")
        if isinstance(default, bool):
            parser.add_argument(flag, action=argparse.BooleanOptionalAction, default=argparse.SUPPRESS,
                                help=f"{f.metadata['help']} (default: {'on' if default else 'off'})")
            continue
        kind, nargs = _option_type(f.name)
        shown = " ".join(map(str, default)) if isinstance(default, tuple) else default
        kwargs: dict[str, Any] = {
            "type": kind,
            "default": argparse.SUPPRESS,
            "help": f.metadata["help"] + ("" if default is None else f" (default: {shown})"),
            "metavar": f.name.split("_")[-1].upper(),
        }
        if nargs:
            kwargs["nargs"] = nargs
        if f.metadata.get("choices") and kind is str and not nargs:
            kwargs["choices"] = f.metadata["choices"]
            kwargs.pop("metavar")
        parser.add_argument(flag, **kwargs)
    return parser


def _warn_line(message, *_: Any, **__: Any) -> None:
    print(f"nst: warning: {message}", file=sys.stderr)


def _fail(message: str) -> int:
    print(f"nst: error: {message}", file=sys.stderr)
    return 2


def main(argv: list[str] | None = None) -> int:
    """Run the CLI; returns the exit status (0 done, 1 interrupted, 2 bad input)."""
    args = build_parser().parse_args(argv)
    overrides = {k: v for k, v in vars(args).items() if k not in ("content", "style", "output", "save_every", "recipe", "masks")}

    # Heavy imports after parsing, so that --help is instant.
    import torch
    from tqdm import tqdm

    from .images import ImageError
    from .pipeline import stylize
    from .recipe import save_png
    from .settings import SettingsError
    from .weights import WeightsError

    output = Path(args.output)
    if output.suffix.lower() != ".png":
        return _fail(f"the output must be a .png file, not {output.name!r}")
    if not output.parent.is_dir():
        return _fail(f"the output folder {str(output.parent)!r} does not exist")
    if args.save_every < 0:
        return _fail("--save-every must be 0 or more")
    overrides["preview_every"] = args.save_every

    bar = None
    last_image = None
    previous = warnings.showwarning
    try:
        warnings.showwarning = _warn_line  # nst's warnings (an all-black mask) as one line each
        style = args.style[0] if len(args.style) == 1 else args.style
        for event in stylize(args.content, style, masks=args.masks, **overrides):
            if bar is None:
                bar = tqdm(total=event.total, unit="step", dynamic_ncols=True)
            bar.update(event.step - bar.n)
            bar.set_postfix(
                content=f"{event.losses['content']:.3g}", style=f"{event.losses['style']:.3g}",
                refresh=False,
            )
            if event.image is not None:
                last_image = event.image
                if not event.done:
                    event.image.save(output.with_name(f"{output.stem}_{event.step:04d}.png"))
        bar.close()
        save_png(last_image, output)
        print(f"saved {output} ({last_image.width}×{last_image.height})", file=sys.stderr)
        return 0
    except (ImageError, SettingsError, WeightsError, FloatingPointError) as exc:
        if bar is not None:
            bar.close()
        return _fail(str(exc))
    except KeyboardInterrupt:
        if bar is not None:
            bar.close()
        if last_image is not None:
            last_image.save(output)
            print(f"interrupted; saved the last image to {output}", file=sys.stderr)
        return 1
    except (torch.OutOfMemoryError, MemoryError):
        if bar is not None:
            bar.close()
        return _fail(f"out of memory at {overrides.get('size', DEFAULT.size)} px: lower --size")
    except OSError as exc:
        return _fail(f"cannot write {output}: {exc.strerror or exc}")
    finally:
        warnings.showwarning = previous


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
