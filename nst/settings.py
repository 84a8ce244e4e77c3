"""Every run setting, its default and its valid range, in one place.

The Python API, the CLI (``python -m nst``) and the app read their defaults, choices,
help texts and limits from :class:`Settings`; nothing else states a default.
"""

from __future__ import annotations

import dataclasses
import decimal
import math
import operator
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from .color import COLOR_MODES
from .losses import NORMALIZATIONS
from .vgg import check_layer_names, LAYER_NAMES

__all__ = [
    "Settings",
    "SettingsError",
    "DEFAULT",
    "LIMITS",
    "RELU_LAYERS",
    "STRENGTHS",
    "FieldInfo",
    "field_info",
    "field_names",
    "strength",
]

RELU_LAYERS: tuple[str, ...] = tuple(n for n in LAYER_NAMES if n.startswith("relu"))


from .errors import SettingsError  # noqa: E402  (defined with nst's other errors)


@dataclass(frozen=True)
class Limits:
    """Bounds that keep a run finite, on any machine."""

    max_steps: int = 5000
    min_size: int = 32
    # Any device, through the API and the CLI: scales too large for the memory budget
    # run in tiles (nst.tiles), so the size is bounded by time, not by memory.
    max_size: int = 8192
    # The app's caps: what a visitor waits for on each device (a default run takes about
    # 2 min at 1024 px on a 2-core CPU; 2048 px fits ZeroGPU's reservation on a GPU).
    max_size_cpu: int = 1024
    max_size_gpu: int = 2048
    # max_memory, in GB.
    min_memory: float = 0.05
    max_memory: float = 1e4
    # The most a CPU run's default budget takes, in GB (nst.tiles.default_budget): with
    # nst's process, a print-size run stays under 2.5 GB, with room for the measures' spread.
    cpu_memory: float = 1.8
    max_style_weight: float = 1e9
    max_time_limit: float = 24 * 3600


LIMITS = Limits()


def _opt(default: Any, help: str, choices: tuple | None = None, **meta: Any) -> Any:
    """A dataclass field carrying its CLI/UI help text and choices."""
    metadata = {"help": help, "choices": choices, **meta}
    if isinstance(default, (list, tuple)):
        return field(default=tuple(default), metadata=metadata)
    return field(default=default, metadata=metadata)


@dataclass(frozen=True)
class Settings:
    """The settings of one style-transfer run. Every field has a working default."""

    steps: int = _opt(200, "optimisation steps (one forward and backward pass each)")
    size: int = _opt(512, "long side of the output in pixels; the aspect ratio is kept")
    style_weight: float = _opt(10.0, "style-to-content weight ratio β/α; higher looks more painted", log_scale=True)
    normalization: str = _opt(
        "pair",
        "how the costs are scaled per image pair: pair (each term by its distance between photo "
        "and painting, so one ratio paints alike for any pair), style, content, or none (Gatys's units)",
        NORMALIZATIONS,
    )
    content_layer: str = _opt(
        "relu4_2", "VGG19 layer whose activations the content cost matches", ui_choices=RELU_LAYERS
    )
    style_layers: tuple[str, ...] = _opt(
        ("relu1_1", "relu2_1", "relu3_1", "relu4_1", "relu5_1"),
        "VGG19 layers whose Gram matrices the style cost matches",
        ui_choices=RELU_LAYERS,
    )
    style_layer_weights: tuple[float, ...] | None = _opt(
        None, "weight λ of each style layer (normalised to sum 1; equal when not given)"
    )
    style_blend: tuple[float, ...] | None = _opt(
        None, "with several style images, the weight of each (normalised; equal when not given)"
    )
    style_scale: float = _opt(1.0, "size of the style image relative to the output: larger gives bigger strokes")
    tv_weight: float = _opt(0.0, "total-variation weight, relative to the initial cost: smooths noise (try 1–100)")
    style_loss: str = _opt(
        "gram",
        "style cost: gram (Gatys et al.) or sliced-wasserstein (whole feature distributions, Heitz et al. 2021)",
        ("gram", "sliced-wasserstein"),
    )
    preserve_color: str = _opt(
        "none",
        "keep the content's colours: none (take the style's), swap (content chroma on the result), "
        "luminance (transfer luminance only), match (recolour the style to the content first)",
        COLOR_MODES,
    )
    init: str = _opt(
        "palette",
        "starting image: content (the photo), palette (the photo in the painting's colours; the "
        "photo itself under a colour mode), noise or style",
        ("content", "palette", "noise", "style"),
    )
    optimizer: str = _opt("lbfgs", "optimiser of the pixels", ("lbfgs", "adam"))
    learning_rate: float | None = _opt(None, "step size (default: 1 for L-BFGS, 0.02 for Adam)")
    seed: int = _opt(0, "random seed; the same seed gives the same image on the same device")
    device: str = _opt("auto", "auto (CUDA, else MPS, else CPU), cpu, cuda, cuda:N or mps")
    weights: str = _opt("embedded", "VGG19 weights: embedded, torchvision, hf:OWNER/REPO/FILE, or a file")
    pooling: str = _opt("max", "VGG19 pooling", ("max", "avg"))
    preview_every: int = _opt(10, "yield a preview image every this many steps (0: final image only)")
    multiscale: bool = _opt(True, "coarse-to-fine: start small and grow by √2 per scale to the output size")
    precision: str = _opt(
        "auto",
        "network precision: auto (bf16 where the hardware runs it faster), fp32 or bf16",
        ("auto", "fp32", "bf16"),
    )
    time_limit: float | None = _opt(None, "stop within this many seconds, adapting the schedule to fit")
    keep_faces: bool = _opt(
        True,
        "find faces in the content image and keep their eyes, nose and mouth in place "
        "(more content weight there); no face found: no change",
    )
    temporal_weight: float = _opt(
        100.0,
        "video: weight of the temporal cost, the pixels that the optical flow follows held to the previous "
        "frame's result (relative to the normalised cost; 0: each frame on its own, but still started from it)",
    )
    frame_steps: int = _opt(
        40, "video: steps of every frame after the first (which takes steps), started from the previous result"
    )
    max_memory: float | None = _opt(
        None,
        "working memory of a run in GB; scales that need more are optimised in tiles that fit "
        f"(default: half the free memory, at most {LIMITS.cpu_memory:g} GB, on a CPU, where scales up to "
        f"{LIMITS.max_size_cpu} px run whole if half the free memory holds them; 0.8 of the free memory on a GPU)",
    )

    def replace(self, **changes: Any) -> Settings:
        """A copy with ``changes`` applied and validated."""
        names = {f.name for f in dataclasses.fields(self)}
        unknown = sorted(set(changes) - names)
        if unknown:
            raise SettingsError(f"unknown setting {', '.join(unknown)}; known: {', '.join(sorted(names))}")
        return dataclasses.replace(self, **changes).validated()

    @classmethod
    def from_mapping(cls, values: Mapping[str, Any]) -> Settings:
        return cls().replace(**dict(values))

    def to_dict(self) -> dict[str, Any]:
        return {
            f.name: (list(v) if isinstance(v := getattr(self, f.name), tuple) else v) for f in dataclasses.fields(self)
        }

    def validated(self) -> Settings:
        """Check and normalise every field; raise :class:`SettingsError` naming the bad one."""
        s = self
        steps = _int(s.steps, "steps", 1, LIMITS.max_steps)
        size = _int(s.size, "size", LIMITS.min_size, LIMITS.max_size)
        ratio = _float(s.style_weight, "style_weight", 0.0, LIMITS.max_style_weight)
        if not isinstance(s.content_layer, str):
            raise SettingsError(
                f"content_layer must be one layer's name, such as relu4_2, not {shown_value(s.content_layer)}"
            )
        content_layer = _layers([s.content_layer], "content_layer")[0]
        style_layers = tuple(_layers(s.style_layers, "style_layers"))
        if not style_layers:
            raise SettingsError("style_layers is empty: choose at least one style layer")
        if len(set(style_layers)) != len(style_layers):
            raise SettingsError("style_layers names a layer twice")
        lw = s.style_layer_weights
        if lw is not None:
            lw = tuple(_float(w, "style_layer_weights", 0.0, 1e9) for w in _seq(lw, "style_layer_weights"))
            if len(lw) != len(style_layers):
                raise SettingsError(f"style_layer_weights has {len(lw)} values for {len(style_layers)} style layers")
            if sum(lw) <= 0:
                raise SettingsError("style_layer_weights must not all be zero")
        blend = s.style_blend
        if blend is not None:
            blend = tuple(_float(w, "style_blend", 0.0, 1e9) for w in _seq(blend, "style_blend"))
            if not blend or sum(blend) <= 0:
                raise SettingsError("style_blend must have a positive weight")
        style_scale = _float(s.style_scale, "style_scale", 0.1, 4.0)
        tv_weight = _float(s.tv_weight, "tv_weight", 0.0, 1e6)
        temporal_weight = _float(s.temporal_weight, "temporal_weight", 0.0, 1e6)
        frame_steps = _int(s.frame_steps, "frame_steps", 1, LIMITS.max_steps)
        lr = None if s.learning_rate is None else _float(s.learning_rate, "learning_rate", 1e-6, 1e3)
        if lr == 0:
            raise SettingsError("learning_rate must be positive")
        preview = _int(s.preview_every, "preview_every", 0, LIMITS.max_steps)
        seed = _int(s.seed, "seed", 0, 2**63 - 1)
        time_limit = None if s.time_limit is None else _float(s.time_limit, "time_limit", 0.5, LIMITS.max_time_limit)
        memory = (
            None if s.max_memory is None else _float(s.max_memory, "max_memory", LIMITS.min_memory, LIMITS.max_memory)
        )
        for name in ("init", "optimizer", "pooling", "precision", "style_loss", "preserve_color", "normalization"):
            _choice(getattr(s, name), name)
        if not isinstance(s.device, str) or not s.device:
            raise SettingsError("device must be a name such as auto, cpu or cuda")
        if not isinstance(s.weights, str) or not s.weights:
            raise SettingsError("weights must be embedded, torchvision, hf:OWNER/REPO/FILE or a path")
        return dataclasses.replace(
            s,
            steps=steps,
            size=size,
            style_weight=ratio,
            content_layer=content_layer,
            style_layers=style_layers,
            style_layer_weights=lw,
            learning_rate=lr,
            style_blend=blend,
            style_scale=style_scale,
            tv_weight=tv_weight,
            temporal_weight=temporal_weight,
            frame_steps=frame_steps,
            preview_every=preview,
            seed=seed,
            time_limit=time_limit,
            max_memory=memory,
            multiscale=_bool(s.multiscale, "multiscale"),
            keep_faces=_bool(s.keep_faces, "keep_faces"),
        )


DEFAULT = Settings()

# What the style weight looks like under the default per-pair normalisation, as words for
# the app's slider: each word's ratio, from bench/pairs.py's sheets. Between two marks the
# nearer one (on a log scale) names the ratio.
STRENGTHS: tuple[tuple[str, float], ...] = (
    ("subtle", 2.0),
    ("balanced", DEFAULT.style_weight),
    ("strong", 50.0),
    ("style only", 1e3),
)


def strength(style_weight: float, normalization: str = DEFAULT.normalization) -> str:
    """The word for ``style_weight``: ``subtle``, ``balanced``, ``strong`` or ``style only``.

    Only the per-pair normalisation gives a ratio the same look for every pair; in other
    units the ratio has no word, and ``""`` is returned.
    """
    if normalization != "pair":
        return ""
    if style_weight <= 0:
        return "photo only"
    x = math.log10(style_weight)
    return min(STRENGTHS, key=lambda mark: abs(math.log10(mark[1]) - x))[0]


@dataclass(frozen=True)
class FieldInfo:
    """What a front end needs to know of one setting, from :class:`Settings` alone.

    Attributes:
        name: the field's name, e.g. ``"style_weight"``.
        default: its value in :data:`DEFAULT`.
        help: one line saying what it does.
        kind: ``int``, ``float``, ``str`` or ``bool`` (of each item, for a sequence).
        many: a sequence of values (a tuple field).
        optional: None is a valid value ("not set").
        choices: the valid values, where there is a fixed set.
        ui_choices: the values a UI offers, where they differ from ``choices`` (layers).
        log_scale: moves in powers of ten (a UI slider may show its log).
    """

    name: str
    default: Any
    help: str
    kind: type
    many: bool = False
    optional: bool = False
    choices: tuple | None = None
    ui_choices: tuple | None = None
    log_scale: bool = False


def field_info(name: str) -> FieldInfo:
    """The metadata of the setting ``name``: the one accessor the CLI, the app and recipes use.

    Raises:
        SettingsError: there is no such setting.
    """
    try:
        f = Settings.__dataclass_fields__[name]
    except KeyError:
        raise SettingsError(f"unknown setting {name}") from None
    hint = str(f.type)
    kind = (
        bool if "bool" in hint else int if "int" in hint and "float" not in hint else float if "float" in hint else str
    )
    meta = f.metadata
    return FieldInfo(
        name=name,
        default=getattr(DEFAULT, name),
        help=meta.get("help", ""),
        kind=kind,
        many="tuple" in hint,
        optional="None" in hint,
        choices=meta.get("choices"),
        ui_choices=meta.get("ui_choices"),
        log_scale=bool(meta.get("log_scale")),
    )


def field_names() -> tuple[str, ...]:
    """Every setting's name, in declaration order."""
    return tuple(f.name for f in dataclasses.fields(Settings))


def choices(name: str) -> tuple | None:
    return field_info(name).choices


def help_text(name: str) -> str:
    return field_info(name).help


def _choice(value: Any, name: str) -> None:
    options = choices(name)
    assert options is not None, f"{name} is not a setting with choices"
    if value not in options:
        raise SettingsError(f"{name} must be one of {', '.join(options)}, not {shown_value(value)}")


def _bool(value: Any, name: str) -> bool:
    if isinstance(value, bool):
        return value
    if isinstance(value, str) and value.lower() in ("true", "false", "1", "0", "yes", "no", "on", "off"):
        return value.lower() in ("true", "1", "yes", "on")
    if value in (0, 1):
        return bool(value)
    raise SettingsError(f"{name} must be true or false, not {shown_value(value)}")


def _seq(value: Any, name: str) -> list:
    if isinstance(value, str):
        value = value.replace(",", " ").split()
    if isinstance(value, (Mapping, set, frozenset, bytes)):  # no order, or not a list of values
        raise SettingsError(f"{name} must be a list, not {shown_value(value)}")
    try:
        return list(value)
    except TypeError:
        raise SettingsError(f"{name} must be a list") from None


def _layers(value: Any, name: str) -> list[str]:
    # "relu1_1,relu3_1" names two layers also inside a list (as one CLI argument does).
    items = _seq(value, name)
    if any(isinstance(v, (list, tuple, Mapping)) for v in items):
        raise SettingsError(f"{name} must be a list of layer names, not {shown_value(value)}")
    for v in items:
        if isinstance(v, int) and not isinstance(v, bool) and abs(v) >= 10**40:  # str(v) may raise: not a name
            raise SettingsError(f"{name} must be a list of layer names, not one holding {shown_value(v)}")
    names = [n.strip() for v in items for n in str(v).split(",")]
    names = [n for n in names if n] or names  # a blank name alone stays, to be reported
    try:
        return check_layer_names(names)
    except ValueError as exc:
        raise SettingsError(f"{name}: {exc}") from None


def _digits(n: int) -> int:
    """The number of decimal digits of ``n`` (without its sign), without ``str(n)``: past
    ``sys.get_int_max_str_digits()`` (4300) digits, converting an int to text raises."""
    n = abs(n)
    d = max(1, int(n.bit_length() * math.log10(2)))  # within one of the count; then exact
    while n >= 10**d:
        d += 1
    while d > 1 and n < 10 ** (d - 1):
        d -= 1
    return d


def shown_value(value: Any) -> str:
    """``value`` as a message shows it: its repr, or for an int too long for text, its
    length in digits (``a 5001-digit number``). The message is clipped later (errors.short)."""
    if isinstance(value, int) and not isinstance(value, bool) and abs(value) >= 10**40:
        return f"a {_digits(value)}-digit number" if value > 0 else f"a negative {_digits(value)}-digit number"
    try:
        return repr(value)
    except ValueError:  # a Fraction, a numpy scalar... holding an int too long for text
        return f"a {type(value).__name__} too long to show"


def _number(value: Any, name: str) -> float:
    if isinstance(value, bool):
        raise SettingsError(f"{name} must be a number, not {value!r}")
    try:
        x = float(value.strip() if isinstance(value, str) else value)
    except OverflowError:  # an int (or a Fraction) beyond float's range
        shown = f"a {_digits(value)}-digit one" if isinstance(value, int) else shown_value(value)
        raise SettingsError(f"{name} must be a finite number, not {shown}") from None
    except (TypeError, ValueError):
        raise SettingsError(f"{name} must be a number, not {shown_value(value)}") from None
    if not math.isfinite(x):
        raise SettingsError(f"{name} must be a finite number, not {shown_value(value)}")
    return x


def _float(value: Any, name: str, lo: float, hi: float) -> float:
    x = _number(value, name)
    if not lo <= x <= hi:
        raise SettingsError(f"{name} must be between {lo:g} and {hi:g}, not {x:g}")
    return x


# Floats hold every whole number up to 2**53 exactly; past it a float may already be a
# rounded version of what was meant, so larger ones must come as ints or digits.
_EXACT_FLOAT = 2**53


def _int(value: Any, name: str, lo: int, hi: int) -> int:
    """``value`` as an exact int in [lo, hi]: an int, a whole float, or a whole number in a
    string ("12", "+12", "12.0", "1e3"); ints and strings never go through float."""
    if isinstance(value, bool):
        raise SettingsError(f"{name} must be a whole number, not {shown_value(value)}")
    try:
        x: int | float | decimal.Decimal = operator.index(value)  # int, numpy integers
    except TypeError:
        if isinstance(value, str):
            try:
                x = decimal.Decimal(value.strip())
            except decimal.InvalidOperation:
                raise SettingsError(f"{name} must be a number, not {shown_value(value)}") from None
            if not x.is_finite():
                raise SettingsError(f"{name} must be a finite number, not {shown_value(value)}") from None
        else:
            x = _number(value, name)
        if x != int(x) if not isinstance(x, decimal.Decimal) else x != x.to_integral_value():
            raise SettingsError(f"{name} must be a whole number, not {shown_value(value)}") from None
    if not lo <= x <= hi:
        if isinstance(x, int) and abs(x) < 10**40:
            shown = str(x)
        elif isinstance(value, str):
            shown = value
        else:
            try:
                shown = f"{x:g}"
            except OverflowError:  # an int beyond float's range (and too long for text)
                shown = shown_value(x)
        raise SettingsError(f"{name} must be between {lo} and {hi}, not {shown}")
    if isinstance(x, float) and abs(x) > _EXACT_FLOAT:
        raise SettingsError(
            f"{name} {x:.17g} is past 2**53, where floating-point numbers skip whole numbers; "
            "give it as an integer (digits, not a float)"
        )
    return int(x)
