"""The style-transfer run: validate, prepare, optimise scale by scale, finish.

:func:`stylize` checks its settings and opens its images when it is called, then returns
a generator of :class:`Progress` events, the one stream that the CLI, the app and Python
callers all consume. :func:`stylize_image` runs it to the end. The phases:

1. :func:`prepare` (at the call): settings, device, images and the plan of scales, as a
   :class:`PreparedRun`; no network work yet, so a bad input fails at once.
2. :func:`_setup` (at the first ``next()``): the network, the precision, the recipe.
3. :func:`_optimise_scale`, once per scale: targets, then the steps, yielding progress.
4. :func:`_finish`: the image at the output (or preview) size, in its colour mode, with
   the photo composited back where no mask is white (regional runs).
"""

from __future__ import annotations

import contextlib
import dataclasses
import gc
import json
import math
import operator
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import Any

import torch
from PIL import Image

from . import color, costs, cpu
from . import images as im
from .calibration import calibrate
from .device import autocast_dtype, dtype_name, resolve_device
from .errors import DivergedError, Error, OutOfMemoryError, SettingsError, is_out_of_memory
from .faces import Face, content_weight_map, load_keep_mask, protected_faces
from .lbfgs import LBFGS, LeanLBFGS
from .losses import tv_loss
from .masks import load_masks, mask_tensor, resize_mask
from .objective import Objective
from .recipe import RECIPE_KEY, input_reference, make_recipe
from .costmodel import CostModel
from .eta import Eta
from .schedule import ScalePlan, estimate_seconds, plan_run
from .timelimit import BUDGET_MARGIN, fit_plan, fit_steps, limit_note
from .settings import DEFAULT, LIMITS, Settings, shown_value
from .memory import memory_plans, work_plan
from .tiles import MemoryPlan, TiledObjective, tv_into_grad
from .vgg import deepest, min_input_size
from .weights import load_model

__all__ = ["Progress", "PreparedRun", "prepare", "stylize", "stylize_image", "calibrate", "estimate"]

# The longest L-BFGS step, as the RMS change of the pixels (in [0, 1]). Without a line
# search, L-BFGS's early curvature guesses at a new scale now and then step far too
# long: RMS 0.3 (pixels moved by up to 2.2) and J ×30 in one step, where its other steps
# are below 0.02; at 1024 px such a step (J ×100) wiped out the content for good.
MAX_STEP_RMS = 0.05


@dataclass(kw_only=True)
class Progress:
    """One event of a run.

    Attributes:
        step: optimisation steps done so far.
        total: steps the run will take.
        losses: ``content`` (J_content), ``style`` (J_style), ``total`` (J) and
            ``style:<layer>`` (each J_style^l), as floats, at this step (empty if the
            run was stopped before its first step).
        elapsed: seconds since the run started.
        size: ``(width, height)`` of the image being optimised.
        image: a preview or, when ``done``, the result at the output size.
        done: True on the last event, whose ``image`` is the result.
        stopped: True on the last event of a run ended by ``stop=``; its image is the
            image as it was after the last whole step.
        scale: ``(index, count)`` of the coarse-to-fine scale being optimised, from 1.
        work_done: megapixel-steps done so far (coarse steps are cheap: this is the
            measure of progress).
        work_total: megapixel-steps of the whole run, as planned.
        eta: seconds until the result, from the plan and the pace measured so far.
        note: one line when a time limit changed the plan (the steps it kept, or the
            smaller working size), else None.
    """

    step: int
    total: int
    losses: dict[str, float]
    elapsed: float
    size: tuple[int, int]
    image: Image.Image | None = None
    done: bool = False
    stopped: bool = False
    settings: Settings = field(default=DEFAULT, repr=False)
    scale: tuple[int, int] = (1, 1)
    work_done: float = 0.0
    work_total: float = 0.0
    eta: float | None = None
    note: str | None = None

    @property
    def terms(self) -> dict[str, float]:
        """What J sums: ``content``, the weighted style term ``style`` (β·J_style) and
        ``total`` (J); empty before the first step."""
        if not self.losses:
            return {}
        return {"content": self.losses["content"], "style": self.settings.style_weight * self.losses["style"],
                "total": self.losses["total"]}


@dataclass
class PreparedRun:
    """A run checked and planned, before any network work: what :func:`stylize` validated.

    Attributes:
        settings: the validated settings.
        device: where the run computes.
        content: the content image, as given (RGB).
        styles: the style images, as given (RGB).
        blend: each style's weight, normalised to sum 1.
        output: the content at the output size: the result's size and chroma source.
        plan: the scales, coarse to fine, with their pixel sizes and steps.
        masks: one greyscale mask per style (regional runs), as given, else None.
        mask_names: how the recipe names each mask (file names, or "mask N").
        faces: the faces protected (``keep_faces``), in the content image's pixels.
        keep: the keep mask (white: keep the photo's structure), as given, else None.
        keep_name: how the recipe names the keep mask.
        time_cap: seconds the run may take at most, set by a front end (the app: what a
            visitor's wait allows, or on ZeroGPU its GPU reservation); like ``time_limit``,
            but not a setting, so recipes do not record it; counted from the start of
            :meth:`events`.
        started: when the time limit's clock started (``time.perf_counter()``): the call
            of :func:`prepare`, unless the caller started it earlier (the CLI: at the
            process's start).
        reserve: seconds of the time limit kept for what the caller does after the result
            (the CLI writes the PNG).
        memory: each scale's :class:`~nst.tiles.MemoryPlan`: whole or in tiles, and the
            working memory expected.
        start: the image the run continues from (an upscale: its first scale is finer
            than this image), else None.
    """

    settings: Settings
    device: torch.device
    content: Image.Image
    styles: list[Image.Image]
    blend: list[float]
    output: Image.Image
    plan: list[ScalePlan]
    masks: list[Image.Image] | None = None
    mask_names: list[str] | None = None
    faces: list[Face] = field(default_factory=list)
    keep: Image.Image | None = None
    keep_name: str | None = None
    time_cap: float | None = None
    started: float = field(default_factory=time.perf_counter)
    reserve: float = 0.0
    memory: list[MemoryPlan] = field(default_factory=list)
    start: Image.Image | None = None

    @property
    def total_steps(self) -> int:
        return sum(sc.steps for sc in self.plan)

    @property
    def peak_memory(self) -> float:
        """The run's expected peak working memory, bytes (the process and weights not included)."""
        return max((m.peak for m in self.memory), default=0.0)

    def work_plan(self) -> list[ScalePlan]:
        """The plan as the estimates count it: a tiled scale as the pixels its tiles and
        their halos cover (``MemoryPlan.work`` times its own)."""
        return work_plan(self.plan, self.memory)

    def events(
        self, *, stop: threading.Event | None = None, preview_seconds: float | None = None,
        preview_size: int | None = None,
    ) -> Iterator[Progress]:
        """Run it: phases 2–4 of :func:`stylize`, which takes the same keyword arguments.

        Raises:
            SettingsError: ``stop``, ``preview_seconds`` or ``preview_size`` cannot be used
                (at the call, not deep in the run).
        """
        if stop is not None and not callable(getattr(stop, "is_set", None)):
            raise SettingsError(
                f"stop must be a threading.Event (or anything with an is_set() method), not {type(stop).__name__}"
            )
        return _events(self, stop, _preview_seconds(preview_seconds), _preview_size(preview_size))

    def estimate(self, *, setup: bool = False, calibrated: bool = True) -> float:
        """Expected seconds of the run (with ``setup``: also loading the network).

        ``calibrated`` times whole steps on this device first (once per process, a few
        seconds on a CPU); otherwise the cost model this process has (refined by every
        run that ended: see :func:`nst.costs.learn`), else the prior from the convolution probe.
        """
        amp = _amp(self.settings, self.device)
        cost = calibrate(self.device, self.settings.precision) if calibrated else _cost(self.device, amp)
        return estimate_seconds(self.work_plan(), cost, setup=setup, time_limit=self.settings.time_limit)


def _preview_seconds(value: Any) -> float | None:
    """``preview_seconds`` as a float (infinity: the first preview only), or None.

    Raises:
        SettingsError: not a number, negative or NaN.
    """
    if value is None:
        return None
    if isinstance(value, (bool, str, bytes)):  # a number of seconds, not text or a switch
        raise SettingsError(f"preview_seconds must be a number of seconds, 0 or more, not {shown_value(value)}")
    try:
        seconds = float(value)
    except OverflowError:  # an int beyond float's range: no preview after the first, or negative
        seconds = math.inf if value > 0 else -math.inf
    except (TypeError, ValueError):
        raise SettingsError(f"preview_seconds must be a number of seconds, 0 or more, not {shown_value(value)}") from None
    if not seconds >= 0:  # NaN too
        raise SettingsError(f"preview_seconds must be 0 or more, not {seconds:g}")
    return seconds


def _preview_size(value: Any) -> int | None:
    """``preview_size`` as an int of at least 16, or None.

    Raises:
        SettingsError: not a whole number, or below 16.
    """
    if value is None:
        return None
    try:
        size = operator.index(value) if not isinstance(value, bool) else None  # int, numpy integers
    except TypeError:
        size = None
    if size is None or size < 16:
        raise SettingsError(f"preview_size must be a whole number of at least 16 px, not {shown_value(value)}")
    return size


def blend_mismatch(name: str, weights: int, styles: int) -> str:
    """The message for a blend of ``weights`` weights given for ``styles`` style images (``name``:
    the setting as the caller spells it, ``style_blend`` or ``--style-blend``)."""
    return (f"{name} has {weights} weight{'s' if weights != 1 else ''} for {styles} style "
            f"image{'s' if styles != 1 else ''}; give one weight per style image")


def _styles(style: im.ImageInput | list[im.ImageInput]) -> list[im.ImageInput]:
    if isinstance(style, (list, tuple)):
        if not style:
            raise im.ImageError("no style image was given")
        return list(style)
    return [style]


def prepare(
    content: im.ImageInput,
    style: im.ImageInput | list[im.ImageInput],
    settings: Settings | None = None,
    /,
    *,
    masks: list[Any] | None = None,
    keep: Any = None,
    start: im.ImageInput | None = None,
    **overrides: Any,
) -> PreparedRun:
    """Check the settings, open the images and plan the scales (phase 1 of :func:`stylize`).

    Takes :func:`stylize`'s arguments; raises its errors, and nothing else is done.
    ``start``: continue from this image (a result of the same content, smaller than
    ``size``): only the scales finer than it run (see :mod:`nst.upscale`).
    """
    started = time.perf_counter()  # a time limit counts from the call
    # Sizes up to LIMITS.max_size on any device (Settings checks them): scales beyond the
    # memory budget run in tiles. Front ends with a visitor waiting cap it by time (max_size).
    s = (settings or DEFAULT).replace(**overrides)
    device = resolve_device(s.device)
    content_full = im.load_image(content, "content image")
    style_inputs = _styles(style)
    blend = list(s.style_blend or (1.0,) * len(style_inputs))
    if len(blend) != len(style_inputs):
        raise SettingsError(blend_mismatch("style_blend", len(blend), len(style_inputs)))
    blend = [w / sum(blend) for w in blend]
    what = ["style image"] if len(style_inputs) == 1 else [f"style image {i + 1}" for i in range(len(style_inputs))]
    styles_full = [im.load_image(x, w) for x, w in zip(style_inputs, what)]
    # [regions] The masks, checked against the content and the styles (None: no masks).
    if masks is not None and not isinstance(masks, (list, tuple)):
        masks = [masks]
    masks_full = load_masks(masks, content_full, len(styles_full), s)
    names = None if masks is None else [input_reference(m, f"mask {i + 1}") for i, m in enumerate(masks)]
    # [faces] What keeps the photo's structure: a keep mask, and the faces found (nst.faces).
    keep_img = None if keep is None else load_keep_mask(keep, content_full)
    found = protected_faces(content_full) if s.keep_faces else []
    out_img = im.resize_to_long_side(content_full, s.size)
    needed = min_input_size([s.content_layer, *s.style_layers])
    # Coarse scales too small for the deepest layer are skipped (their steps move on).
    plan = plan_run(content_full.size, s.size, s.steps, multiscale=s.multiscale, min_side=needed)
    start_img = None
    if start is not None:
        start_img = im.load_image(start, "image to continue from")
        plan = _plan_from(plan, start_img, out_img)
    for i, (label, img) in enumerate((("content image", content_full), *zip(what, styles_full))):
        scaled = out_img if i == 0 else im.resize_to_pixels(img, s.style_scale**2 * out_img.width * out_img.height)
        if min(scaled.size) < needed:
            # A long thin strip is too narrow at any size: say so rather than suggest a larger one.
            thin = min(img.size) / max(img.size) * LIMITS.max_size_cpu < needed
            raise im.ImageError(
                f"the {label} ({img.width}×{img.height} px) is {scaled.width}×{scaled.height} px at this size; "
                f"the layers chosen need at least {needed} px on each side "
                + ("(crop it closer to a square, or use shallower layers)" if thin else "(raise size or use shallower layers)")
            )
    return PreparedRun(s, device, content_full, styles_full, blend, out_img, plan, masks_full, names, found, keep_img,
                       None if keep is None else input_reference(keep, "keep mask"), started=started,
                       memory=memory_plans(plan, s, device, masks is not None), start=start_img)


def _plan_from(plan: list[ScalePlan], start: Image.Image, output: Image.Image) -> list[ScalePlan]:
    """The scales of ``plan`` finer than ``start`` (at least the last), with their planned steps."""
    if abs(start.height / start.width - output.height / output.width) > 0.02:
        raise im.ImageError(
            f"the image to continue from is {start.width}×{start.height} px, not the content image's shape"
        )
    if max(start.size) >= max(output.size):
        raise SettingsError(f"the image to continue from is {max(start.size)} px already, not smaller than size")
    finer = [sc for sc in plan if max(sc.wh) > max(start.size) * 1.05]
    return finer or plan[-1:]


def stylize(
    content: im.ImageInput,
    style: im.ImageInput | list[im.ImageInput],
    settings: Settings | None = None,
    /,
    *,
    masks: list[im.ImageInput | torch.Tensor] | None = None,
    keep: im.ImageInput | torch.Tensor | None = None,
    stop: threading.Event | None = None,
    preview_seconds: float | None = None,
    preview_size: int | None = None,
    **overrides: Any,
) -> Iterator[Progress]:
    """Transfer the style of ``style`` onto ``content``, yielding progress as it goes.

    The settings are checked and the images opened now, at the call; the work starts at
    the first ``next()``.

    Args:
        content: the image whose layout is kept (path, PIL image or array).
        style: the image whose look is taken (path, PIL image or array), or a list of
            them, blended with the ``style_blend`` weights.
        settings: a :class:`~nst.Settings`; defaults to :data:`~nst.DEFAULT`.
        masks: where each style goes: one greyscale mask per style image, in the
            content image's frame (any size of its aspect ratio; soft edges allowed).
            White is "this style here"; where no mask is white the result is the photo.
            Each style's Gram matrices are then matched over its own region only, and
            ``style_blend`` is each region's strength. ``None``: the whole image.
        keep: a greyscale mask in the content's frame: where it is white the photo's
            structure is kept (more content weight, as over faces with ``keep_faces``).
        stop: once set, the run ends within one layer of the current step and yields
            the image as it was after the last whole step, with ``stopped=True``.
        preview_seconds: send a preview at the first step and then at most this often
            (instead of every ``preview_every`` steps): previews by time cost the same
            share of a run at any size.
        preview_size: the long side of previews, at most (the result is always at the
            output size).
        **overrides: any :class:`~nst.Settings` field, e.g. ``steps=200, size=384``.

    Yields:
        :class:`Progress` after every step, with a preview now and then; the last event
        (``done=True``) holds the result at the output size. Closing the generator early
        also stops the run.

    Raises:
        SettingsError: a setting is out of range or unknown (at the call).
        ImageError: an image or mask is missing, unreadable, too small for the chosen
            layers, or (a mask) in colour, of another shape, or one too many or few
            (at the call).
        WeightsError: the weights cannot be loaded.
        OutOfMemoryError: the device ran out of memory; the message says what to lower.
        DivergedError: the cost became NaN or infinite.
    """
    run = prepare(content, style, settings, masks=masks, keep=keep, **overrides)
    return run.events(stop=stop, preview_seconds=preview_seconds, preview_size=preview_size)


class _Stopped(Exception):
    """Raised inside a step (by the objective's layer check) once the run's stop is set."""


@dataclass
class _Engine:
    """What a run computes with (phase 2): the network, its precision, the recipe, the costs."""

    model: Any
    amp: torch.dtype | None
    recipe: dict[str, Any]
    cost: CostModel
    gen: torch.Generator
    check: Callable[[], None] | None
    # [regions] The masks at the output size, (1, 1, H, W) each, and their union.
    masks: list[torch.Tensor] | None = None
    union: torch.Tensor | None = None
    # [faces] The content cost's weight per pixel at the output size (1, 1, H, W), or None.
    content_weight: torch.Tensor | None = None


def _amp(s: Settings, device: torch.device) -> torch.dtype | None:
    return autocast_dtype(s.precision, device)


def _cost(device: torch.device, amp: torch.dtype | None) -> CostModel:
    """This process's cost model, else this machine's cached one, else the probe's prior."""
    return costs.current_cost(device, "bf16" if amp is torch.bfloat16 else "fp32")


def _setup(run: PreparedRun, stop: threading.Event | None) -> _Engine:
    s = run.settings
    model = load_model(s.weights, s.pooling, str(run.device))
    model = model.truncated(deepest([s.content_layer, *s.style_layers]))
    amp = _amp(s, run.device)
    # [regions] Masks are recorded by reference (file names, or "mask N"), not as pixels.
    where = {} if run.mask_names is None else {"masks": run.mask_names}
    if run.keep_name is not None:
        where["keep"] = run.keep_name
    if run.start is not None:  # an upscale: the size of the result it continued from
        where["upscaled_from"] = list(run.start.size)
    recipe = make_recipe(
        s, device=run.device.type, precision=dtype_name(amp),
        weights_preprocessing=model.preprocessing, styles=len(run.styles), **where,
    )
    masks = None if run.masks is None else [mask_tensor(m, run.output.size) for m in run.masks]
    union = None if masks is None else torch.stack(masks).sum(0).clamp(0, 1)
    k = run.output.width / run.content.width
    weight = content_weight_map(run.output.size, [f.scaled(k) for f in run.faces], run.keep)
    weight = None if weight is None else torch.from_numpy(weight)[None, None]

    def check() -> None:
        if stop.is_set():
            raise _Stopped

    gen = torch.Generator(device="cpu").manual_seed(s.seed)
    return _Engine(model, amp, recipe, _cost(run.device, amp), gen, check if stop is not None else None, masks, union,
                   weight)


def _events(
    run: PreparedRun, stop: threading.Event | None, preview_seconds: float | None, preview_size: int | None
) -> Iterator[Progress]:
    """Phases 2–4 of :func:`stylize`; a device's out-of-memory becomes :class:`OutOfMemoryError`."""
    oom = False
    try:
        yield from _run(run, stop, preview_seconds, preview_size)
    except Error:
        raise
    except Exception as exc:
        if not is_out_of_memory(exc):
            raise
        oom = True  # raised below, outside this block: the failed attempt's frames go with `exc`
    finally:
        if run.device.type == "cuda":
            torch.cuda.empty_cache()
        cpu.return_memory()  # the heap keeps what a run frees (nst.cpu.keep_memory) until here
    if oom:
        gc.collect()  # what the failed attempt held, before anyone retries
        if run.device.type == "cuda":
            torch.cuda.empty_cache()
        raise OutOfMemoryError(run.settings.size, run.device.type, LIMITS.min_size)


def _run(
    run: PreparedRun, stop: threading.Event | None, preview_seconds: float | None, preview_size: int | None
) -> Iterator[Progress]:
    t0 = time.perf_counter()
    s = run.settings
    engine = _setup(run, stop)
    note = None
    # The limit is the whole call's (the CLI's: the whole process's); a front end's cap
    # (ZeroGPU's reservation) counts from here, where the worker starts the run.
    deadlines = ({f"time limit {s.time_limit:g} s": run.started + s.time_limit - run.reserve}
                 if s.time_limit is not None else {})
    if run.time_cap is not None:
        deadlines[f"run cap {run.time_cap:g} s"] = t0 + run.time_cap
    limit_name, deadline = min(deadlines.items(), key=lambda kv: kv[1]) if deadlines else (None, None)
    if deadline is not None and run.start is None:  # an upscale keeps its scales; each fits its share of the time
        # The limit is the whole call's (the CLI's: the whole process's): what is left of it
        # after the start-up and the network's loading goes to the plan, fitted from the
        # costs known (this machine's calibration, else the probe's prior).
        fitted = fit_plan(run.content.size, s.size, s.steps, engine.cost,
                          (deadline - time.perf_counter()) * BUDGET_MARGIN, multiscale=s.multiscale,
                          min_side=min_input_size([s.content_layer, *s.style_layers]))
        if fitted.plan != run.plan:  # the tiles belong to the plan that runs (a smaller working size may need none)
            run = dataclasses.replace(run, plan=fitted.plan, memory=memory_plans(fitted.plan, s, run.device, run.masks is not None))
        note = None if fitted.note is None else f"{limit_name}: {fitted.note}"
    eta = Eta(run.work_plan(), engine.cost)  # tiled scales as the pixels their tiles cover
    # The photo at the output size: the chroma source of swap and luminance modes and what
    # regional runs keep outside the masks; not held otherwise (an image-sized buffer).
    needed = s.preserve_color in ("swap", "luminance") or run.masks is not None
    out_tensor = im.to_tensor(run.output) if needed else None
    total = run.total_steps
    state = _State(image=None, step=0, losses={}, next_preview=0.0)
    if run.start is not None:  # an upscale: the first scale starts from this image, resized
        state.image = im.to_tensor(run.start, run.device)
        if s.preserve_color == "luminance":  # the network sees grey images in this mode
            state.image = color.grey(color.luminance(state.image))

    def event(index: int, wh: tuple[int, int], done_here: int, image: Image.Image | None, **kw: Any) -> Progress:
        left = None if deadline is None else deadline - time.perf_counter()
        return Progress(
            step=state.step, total=total, losses=dict(state.losses), elapsed=time.perf_counter() - t0, size=wh,
            image=image, settings=s, scale=(index + 1, len(run.plan)), work_done=eta.work_done,
            work_total=eta.work_total, eta=0.0 if kw.get("done") else eta.seconds_left(index, done_here, left),
            note=note, **kw,
        )

    index = 0
    for index, scale in enumerate(run.plan):
        # A tiled scale is there to bound memory: on the CPU its large blocks are returned
        # on free, not kept in the heap for speed (nst.cpu.lean_memory).
        tiled = bool(run.memory) and run.memory[index].tiled and run.device.type == "cpu"
        with cpu.lean_memory() if tiled else contextlib.nullcontext():
            stopped = yield from _optimise_scale(run, engine, index, scale, state, eta, deadline, out_tensor,
                                                 stop, preview_seconds, preview_size, event)
        if run.device.type == "cpu":
            # The heap keeps freed blocks during a run (nst.cpu.keep_memory), each of a
            # scale's own sizes; the next scale's larger ones (or the finishing's) do not fit
            # in them, so they would stay resident beside it: given back after every scale.
            cpu.return_memory()
        if stopped or state.step >= total:
            break
        if stop is not None and stop.is_set():
            stopped = True
            break
    else:
        stopped = False
    # 4. Finish: the result at the output size (also when stopped: the image after the last whole step).
    if state.image is None:  # stopped before the first scale had an image: the start image
        c = im.to_tensor(run.output, run.device)
        state.image = _initial_image(s, c, _resize(im.to_tensor(run.styles[0], run.device), c.shape[-2:]), engine.gen)
    t_finish = time.perf_counter()
    result = _finish(state.image, run, out_tensor, run.output.size, engine.union)
    recipe = engine.recipe if not stopped else {**engine.recipe, "steps_done": state.step}
    result.info[RECIPE_KEY] = json.dumps(recipe)  # written by nst.save_png (and the CLI and app)
    if not stopped:
        costs.learn(run.device, dtype_name(engine.amp), engine.cost, state.timings, time.perf_counter() - t_finish)
    if deadline is not None and not stopped and state.step < s.steps:
        # What the limit left in the end (a busy machine can cut more than the plan did).
        note = f"{limit_name}: {limit_note(s.steps, s.size, state.step, max(run.plan[index].wh))}"
    final = event(index, run.output.size, 0, result, done=True, stopped=stopped)
    final.total = state.step if not stopped else total
    state.image = None
    yield final


@dataclass
class _State:
    """What carries from one scale to the next."""

    image: torch.Tensor | None
    step: int
    losses: dict[str, float]
    next_preview: float
    # Per scale index: (megapixels, seconds of its targets, seconds of each step).
    timings: dict[int, tuple[float, float, list[float]]] = field(default_factory=dict)


def _optimise_scale(
    run: PreparedRun, engine: _Engine, index: int, scale: ScalePlan, state: _State, eta: Eta,
    deadline: float | None, out_tensor: torch.Tensor, stop: threading.Event | None,
    preview_seconds: float | None, preview_size: int | None, event: Callable[..., Progress],
) -> Iterator[Progress]:
    """Phase 3 for one scale: targets, then its steps. Returns True if the run was stopped."""
    s = run.settings
    device = run.device
    t_scale = time.perf_counter()
    content_img = run.output if scale.wh == run.output.size else im.resize_to_long_side(run.content, max(scale.wh))
    pixels = content_img.width * content_img.height
    c = im.to_tensor(content_img, device)
    # Each style is resized to the scale's pixel count (times style_scale²), so its
    # features keep the same scale relative to the content at every scale.
    st = [im.to_tensor(im.resize_to_pixels(x, s.style_scale**2 * pixels), device) for x in run.styles]
    c, st = color.recolor(s.preserve_color, c, st)
    eta.scale_started(index)
    # [regions] The masks at this scale's size (area-averaged: no ringing, same mass).
    ms = None if engine.masks is None else [resize_mask(m, c.shape[-2:]).to(device) for m in engine.masks]
    cw = None if engine.content_weight is None else resize_mask(engine.content_weight, c.shape[-2:]).to(device)
    memory = run.memory[index] if run.memory else None
    if memory is not None and memory.tiled:
        # Too large for the memory budget whole: tile by tile (nst.tiles); the faces' and
        # keep mask's content weight is cropped per tile, as the masks are.
        objective = TiledObjective(engine.model, s, c, st, run.blend, engine.amp, memory, masks=ms, content_weight=cw,
                                   exact=True)
    else:
        objective = Objective(engine.model, s, c, st, run.blend, engine.amp, engine.gen, masks=ms, content_weight=cw)
    objective.check = engine.check
    if state.image is None:
        image = _initial_image(s, c, st[0], engine.gen)
    else:
        image = _resize(state.image.detach(), c.shape[-2:])
    del c, st, ms, cw
    image.requires_grad_(True)
    state.image = image
    # A fresh optimiser per scale: L-BFGS's curvature pairs and Adam's moments belong to
    # the previous pixel grid.
    optimizer = _make_optimizer(s, image, memory.history if memory is not None else 20,
                                lean=memory is not None and memory.tiled)
    steps_here, scale_deadline = scale.steps, None
    if deadline is not None:
        # Each scale gets its share of the time left, so a run cut short still finishes
        # at the output size instead of upsampling a coarse image.
        left = deadline - time.perf_counter()
        steps_here, share = fit_steps(run.work_plan()[index:], engine.cost, left, eta.pace)
        scale_deadline = time.perf_counter() + left * share
        eta.replan(index, steps_here)
    closure, last = _closure(objective, optimizer, image, s.tv_weight)
    total = run.total_steps
    times = state.timings.setdefault(index, (run.work_plan()[index].mpx, time.perf_counter() - t_scale, []))[2]
    for done_here in range(1, steps_here + 1):
        t_step = time.perf_counter()
        try:
            optimizer.step(closure)
        except _Stopped:
            # The closure runs before L-BFGS or Adam moves the pixels: the image is as
            # the last whole step left it.
            return True
        if s.optimizer == "lbfgs":
            _limit_step(optimizer, image)
        # The box constraint 0 ≤ pixel ≤ 1, by projection after each step. Without it L-BFGS
        # leaves pixels outside [0, 1] for good, which show clipped, as bright speckles
        # (`python bench/trials.py range` compares the two on the objective alone).
        with torch.no_grad():
            image.clamp_(0, 1)
        state.step += 1
        dt = time.perf_counter() - t_step
        eta.step_done(index, dt, first=done_here == 1)
        times.append(dt)
        state.losses = {k: float(v.detach()) for k, v in last.items()}
        if not all(map(_finite, state.losses.values())):
            raise DivergedError("the optimisation diverged (non-finite loss); lower style_weight or learning_rate")
        if state.step >= total:
            return False
        if stop is not None and stop.is_set():
            return True
        # Move on (or finish) when the next step would overrun this scale's time.
        if scale_deadline is not None and time.perf_counter() + dt > scale_deadline:
            return False
        preview = None
        now = time.perf_counter()
        if preview_seconds is not None:
            want = now >= state.next_preview
        else:
            want = bool(s.preview_every) and state.step % s.preview_every == 0
        if want:
            # Previews carry the recipe with the steps done, should the run be stopped here.
            wh = run.output.size if preview_size is None else _fit(run.output.size, preview_size)
            preview = _finish(image, run, out_tensor, wh, engine.union)
            preview.info[RECIPE_KEY] = json.dumps({**engine.recipe, "steps_done": state.step})
            state.next_preview = time.perf_counter() + (preview_seconds or 0.0)
            if device.type == "cpu":
                # A preview at the output size is several image-sized temporaries (0.35 GB
                # at 3072 px); the heap keeps them (nst.cpu.keep_memory), and the next
                # step's pass would be stacked on their holes: given back.
                cpu.return_memory()
        yield event(index, content_img.size, done_here, preview)
    return False
def _initial_image(s: Settings, content: torch.Tensor, style: torch.Tensor, gen: torch.Generator) -> torch.Tensor:
    if s.init == "content":
        return content.clone()
    if s.init == "style":
        return _resize(style, content.shape[-2:])
    # Noise around mid-grey, as in Gatys et al.'s random initialisation.
    noise = torch.randn(content.shape, generator=gen, device=gen.device)
    return (0.5 + 0.1 * noise).clamp(0, 1).to(content.device)


def _resize(x: torch.Tensor, hw: tuple[int, int] | torch.Size) -> torch.Tensor:
    if tuple(x.shape[-2:]) == tuple(hw):
        return x.clone()
    return torch.nn.functional.interpolate(x, size=tuple(hw), mode="bicubic", align_corners=False).clamp(0, 1)


def _fit(wh: tuple[int, int], longest: int) -> tuple[int, int]:
    """``wh`` shrunk (never enlarged) so that its long side is at most ``longest``."""
    if max(wh) <= longest:
        return wh
    k = longest / max(wh)
    return max(1, round(wh[0] * k)), max(1, round(wh[1] * k))


def _finish(
    x: torch.Tensor, run: PreparedRun, out_tensor: torch.Tensor, wh: tuple[int, int], union: torch.Tensor | None = None,
) -> Image.Image:
    """Phase 4: the image as shown, at ``wh`` (the output size, or a preview's), with the
    content's chroma if the colour mode asks for it, and (with ``union``, the masks' union
    at the output size) the photo where no mask is white."""
    x = x.detach()
    if tuple(x.shape[-2:]) != (wh[1], wh[0]):
        # Antialiased when shrinking (a preview below the optimised size), bicubic when growing.
        smaller = wh[1] < x.shape[-2]
        x = torch.nn.functional.interpolate(
            x, size=(wh[1], wh[0]), mode="bilinear" if smaller else "bicubic", align_corners=False, antialias=smaller
        ).clamp(0, 1)
    x = x.cpu()
    if run.settings.preserve_color in ("swap", "luminance"):
        x = color.swap_chroma(x, _at(out_tensor, wh))
    if union is not None:
        # [regions] Where no mask is white the result is the photo.
        u = _at(union, wh)
        x = u * x + (1 - u) * _at(out_tensor, wh)
    return im.to_pil(x)


def _at(x: torch.Tensor, wh: tuple[int, int]) -> torch.Tensor:
    """``x`` (made at the output size) at ``wh``: itself, or antialiased to a preview's size."""
    if tuple(x.shape[-2:]) == (wh[1], wh[0]):
        return x
    return torch.nn.functional.interpolate(x, size=(wh[1], wh[0]), mode="bilinear", align_corners=False, antialias=True)


def _make_optimizer(s: Settings, image: torch.Tensor, history: int = 20, lean: bool = False) -> torch.optim.Optimizer:
    if s.optimizer == "lbfgs" and lean:  # a tiled scale: the same iterates in fewer image-sized buffers
        return LeanLBFGS([image], lr=s.learning_rate or 1.0, history_size=history)
    if s.optimizer == "lbfgs":
        # One function evaluation per step, so that a step costs the same with either
        # optimiser; the curvature history carries over between calls. Tolerances are
        # off: the run ends when its steps are spent, not when progress slows. A history
        # of 20 pairs (not 100) keeps a 512 px run under 1 GB: each pair is 2 images;
        # tiled scales keep fewer where the memory budget asks (nst.tiles.plan_memory).
        return LBFGS(
            [image], lr=s.learning_rate or 1.0, max_iter=1, history_size=history,
            tolerance_grad=-1, tolerance_change=-1,
        )
    return torch.optim.Adam([image], lr=s.learning_rate or 0.02, betas=(0.9, 0.99))


def _closure(objective: Objective, optimizer: torch.optim.Optimizer, image: torch.Tensor, tv_weight: float):
    last: dict[str, torch.Tensor] = {}
    loss_scale: list[float] = []

    if getattr(objective, "tiled", False):
        return _tiled_closure(objective, optimizer, image, tv_weight, last, loss_scale), last

    def closure() -> torch.Tensor:
        optimizer.zero_grad(set_to_none=True)
        loss, terms = objective(image)
        # The optimiser sees J divided by its first value: the same minimiser, but a
        # unit-sized objective, which L-BFGS's default curvature guess assumes. (With the
        # 0–255 Caffe network, J starts around 1e10 and L-BFGS's second step overflows.)
        if not loss_scale:
            loss_scale.append(max(float(loss.detach()), 1e-12))
        scaled = loss / loss_scale[0]
        if tv_weight:
            # TV is weighed against the normalised cost (1 at the start of each scale), so
            # one tv_weight smooths alike whatever style_weight and the image size are.
            terms["tv"] = tv_loss(image)
            scaled = scaled + tv_weight * terms["tv"]
        scaled.backward()
        last.update(terms)
        return scaled

    return closure, last


def _tiled_closure(objective: TiledObjective, optimizer: torch.optim.Optimizer, image: torch.Tensor,
                   tv_weight: float, last: dict[str, torch.Tensor], loss_scale: list[float]):
    """The closure of a tiled scale: the objective accumulates its gradient tile by tile."""

    def closure() -> torch.Tensor:
        optimizer.zero_grad(set_to_none=False)
        loss, terms = objective.loss_and_grad(image)
        if not loss_scale:  # as the untiled closure: J over its first value
            loss_scale.append(max(float(loss), 1e-12))
        image.grad.div_(loss_scale[0])
        scaled = loss / loss_scale[0]
        if tv_weight:  # its gradient added in place: no image-sized autograd buffers
            terms["tv"] = tv_into_grad(image, tv_weight)
            scaled = scaled + tv_weight * terms["tv"]
        last.update({k: v.detach() for k, v in terms.items()})
        return scaled

    return closure


def _limit_step(optimizer: torch.optim.Optimizer, image: torch.Tensor) -> None:
    """Shorten the L-BFGS step just taken to :data:`MAX_STEP_RMS`, a trust region.

    The step taken is ``t·d`` (L-BFGS's step length and direction), so no copy of the
    image is needed. L-BFGS's next curvature pair is (gradient change, ``d·t``): scaling
    its step length ``t`` alike keeps that pair true to the step actually taken.
    """
    state = optimizer.state[image]
    if "d" not in state:
        return
    with torch.no_grad():
        d, t = state["d"], float(state["t"])
        rms = abs(t) * float(torch.linalg.vector_norm(d)) / d.numel() ** 0.5  # no image-sized temporary
        if rms > MAX_STEP_RMS:
            factor = MAX_STEP_RMS / rms
            image.sub_(d.view_as(image), alpha=t * (1 - factor))
            state["t"] = state["t"] * factor


def _finite(x: float) -> bool:
    return x == x and abs(x) != float("inf")




def stylize_image(
    content: im.ImageInput, style: im.ImageInput, settings: Settings | None = None, /,
    *, stop: threading.Event | None = None, **overrides: Any,
) -> Image.Image:
    """Run :func:`stylize` to the end and return the result; takes the same arguments."""
    overrides.setdefault("preview_every", 0)
    for event in stylize(content, style, settings, stop=stop, **overrides):
        if event.done:
            return event.image
    raise RuntimeError("the run ended without a result")  # unreachable: steps ≥ 1


# --- Time ------------------------------------------------------------------------------


def estimate(
    content: im.ImageInput, style: im.ImageInput | list[im.ImageInput], settings: Settings | None = None, /,
    *, setup: bool = False, **overrides: Any,
) -> float:
    """Expected seconds of :func:`stylize` with these arguments, from timed whole steps.

    Args:
        setup: also count loading the network (a fresh process).
    """
    return prepare(content, style, settings, **overrides).estimate(setup=setup)
