"""The run: set up, optimise scale by scale, finish, as the phases of a :class:`Run`.

:func:`nst.prepare` checks a run's inputs and plans it (a :class:`RunInputs`, which
:class:`nst.PreparedRun` extends); :func:`run_events` runs it and yields its
:class:`Progress`, the one stream that the CLI, the app and Python callers all consume.
The phases, each a method of :class:`Run`:

1. :meth:`Run.setup`: the network, its precision, the recipe, the weight maps, the cost
   model; then :meth:`Run.fit_time`: the deadline, and the plan that fits it.
2. :meth:`Run.optimise_scale`, once per scale: targets (:meth:`Run.begin_scale`), then
   its steps, yielding progress.
3. :meth:`Run.finish`: the result at the output size, its recipe, and the run's timings
   handed to :func:`nst.costs.learn`.
"""

from __future__ import annotations

import contextlib
import dataclasses
import gc
import json
import threading
import time
from collections.abc import Callable, Generator, Iterator
from typing import Any

import torch
from PIL import Image

from . import color, costs, cpu
from . import images as im
from .contention import CpuShare
from .costmodel import CostModel
from .device import autocast_dtype, dtype_name
from .errors import DivergedError, Error, OutOfMemoryError, is_out_of_memory
from .eta import Eta
from .inputs import Progress, RunInputs
from .masks import resize_mask
from .memory import memory_plans
from .losses import FaceStructureLoss
from .objective import Objective
from .recipe import RECIPE_KEY, make_recipe
from .render import Render, fit
from .schedule import ScalePlan
from .settings import LIMITS
from .steps import (
    Curvature,
    Stopped,
    closure_of,
    curvature_of,
    finite,
    first_step,
    initial_image,
    limit_step,
    make_optimizer,
    resize,
    upsample,
)
from .tiles import TiledObjective
from .tilegrid import MemoryPlan
from .timelimit import BUDGET_MARGIN, Deadline, fit_plan, fit_steps, limit_note
from .vgg import deepest, min_input_size
from .weightmaps import FaceStructure, content_weight, face_structure, photo_map, region_maps
from .weights import load_model

__all__ = ["Run", "run_events"]

# Previews of at least this many pixels give the heap back (see Run.preview): from about
# 75 MB of temporaries (~37 bytes a pixel). The app's 512 px previews did too, and each trim
# made the next step fault its working set in again: the app's run cost ~1.4× the CLI's CPU
# (docs/performance.md, "The app against the CLI").
TRIM_AFTER_PREVIEW = 2**21


def run_events(
    inputs: RunInputs,
    stop: threading.Event | None = None,
    preview_seconds: float | None = None,
    preview_size: int | None = None,
    run: Run | None = None,
) -> Iterator[Progress]:
    """Run ``inputs``: :class:`Run`'s events; a device's out-of-memory becomes :class:`OutOfMemoryError`.

    Args:
        inputs: the run, checked and planned.
        stop: once set, the run ends within one layer of the current step.
        preview_seconds: a preview at the first step, then at most this often (None: every
            ``preview_every`` steps).
        preview_size: the long side of previews, at most.
        run: the :class:`Run` of ``inputs`` to use (a video's frame: nst.frame_run.FrameRun), else a new one.
    """
    oom = False
    try:
        yield from (run or Run(inputs, stop, preview_seconds, preview_size)).events()
    except Error:
        raise
    except Exception as exc:
        if not is_out_of_memory(exc):
            raise
        oom = True  # raised below, outside this block: the failed attempt's frames go with `exc`
    finally:
        if inputs.device.type == "cuda":
            torch.cuda.empty_cache()
        cpu.return_memory()  # the heap keeps what a run frees (nst.cpu.keep_memory) until here
    if oom:
        gc.collect()  # what the failed attempt held, before anyone retries
        if inputs.device.type == "cuda":
            torch.cuda.empty_cache()
        raise OutOfMemoryError(inputs.settings.size, inputs.device.type, LIMITS.min_size)


class Run:
    """One run under way: what it computes with, and the state carried from scale to scale.

    Args:
        inputs: the run, checked and planned (its plan may be fitted to a time limit).
        stop: once set, the run ends within one layer of the current step.
        preview_seconds: as :func:`run_events`.
        preview_size: as :func:`run_events`.
    """

    def __init__(
        self,
        inputs: RunInputs,
        stop: threading.Event | None = None,
        preview_seconds: float | None = None,
        preview_size: int | None = None,
    ) -> None:
        self.inputs, self.s = inputs, inputs.settings
        # The plan's steps before a time limit fitted it (an upscale's: only its finer scales').
        self.planned_steps = inputs.total_steps
        self.stop, self.preview_seconds, self.preview_size = stop, preview_seconds, preview_size
        self.t0 = time.perf_counter()
        self.cpu_share = CpuShare()  # whether its timings may stand for the machine (nst.contention)
        # Set up by setup(): the network, its precision, the recipe, the costs, the generator.
        self.model: Any = None
        self.amp: torch.dtype | None = None
        self.recipe: dict[str, Any] = {}
        self.cost = CostModel(step=(0.0, 0.0), scale=(0.0, 0.0))
        self.gen = torch.Generator(device="cpu")
        self.check: Callable[[], None] | None = None
        # [regions] The masks at the output size, (1, 1, H, W) each, and their union.
        self.masks: list[torch.Tensor] | None = None
        self.union: torch.Tensor | None = None
        # Where the result is the photo itself (outside the painted regions, a keep mask's white), or None.
        self.photo: torch.Tensor | None = None
        # [faces] The content cost's weight per pixel at the output size (1, 1, H, W), or None.
        self.content_weight: torch.Tensor | None = None
        # [faces] What keep_faces keeps: the faces' structure (nst.weightmaps.face_structure), or None.
        self.faces: FaceStructure | None = None
        # Time: the deadline (if any), what the limit changed, the ETA.
        self.deadline: Deadline | None = None
        self.note: str | None = None
        self.eta: Eta | None = None
        # The image as shown (the colour modes' chroma, the regions' photo): made by events().
        self.render: Render | None = None
        # Carried from one scale to the next.
        self.image: torch.Tensor | None = None
        # L-BFGS's curvature at the end of the last scale: the length of the next scale's first step.
        self.curvature: Curvature | None = None
        self.step = 0
        self.losses: dict[str, float] = {}
        self.next_preview = 0.0
        # Per scale index: (megapixels, seconds of its targets, seconds of each step).
        self.timings: dict[int, tuple[float, float, list[float]]] = {}

    # --- Phase 1 ---------------------------------------------------------------------------

    def setup(self) -> None:
        """The network (truncated after the deepest layer used), its precision, the recipe,
        the weight maps and the cost model."""
        s, inputs = self.s, self.inputs
        model = load_model(s.weights, s.pooling, str(inputs.device))
        self.model = model.truncated(deepest([s.content_layer, *s.style_layers]))
        self.amp = autocast_dtype(s.precision, inputs.device)
        # [regions] Masks are recorded by reference (file names, or "mask N"), not as pixels.
        where: dict[str, Any] = {} if inputs.mask_names is None else {"masks": inputs.mask_names}
        if inputs.keep_name is not None:
            where["keep"] = inputs.keep_name
        if inputs.start is not None:  # an upscale: the size of the result it continued from
            where["upscaled_from"] = list(inputs.start.size)
        self.recipe = make_recipe(
            s,
            device=inputs.device.type,
            precision=dtype_name(self.amp),
            weights_preprocessing=self.model.preprocessing,
            styles=len(inputs.styles),
            **where,
        )
        self.masks, self.union = region_maps(inputs.masks, inputs.output.size)
        self.photo = photo_map(self.masks, inputs.blend, inputs.keep, inputs.output.size)
        self.content_weight = content_weight(inputs.output.size, inputs.content.width, inputs.faces, inputs.keep)
        self.faces = face_structure(inputs.output.size, inputs.content.width, inputs.faces)
        if self.stop is not None:
            self.check = self._check_stop
        self.gen = torch.Generator(device="cpu").manual_seed(s.seed)
        # This process's cost model, else this machine's cached one, else the probe's prior.
        self.cost = costs.current_cost(inputs.device, "bf16" if self.amp is torch.bfloat16 else "fp32")

    def _check_stop(self) -> None:
        if self.stop is not None and self.stop.is_set():
            raise Stopped

    def fit_time(self) -> None:
        """The deadline (the time limit's, or a front end's cap), and the plan that fits it."""
        s = self.s
        # The limit is the whole call's (the CLI's: the whole process's); a front end's cap
        # (ZeroGPU's reservation) counts from the run's start, where the worker starts it.
        self.deadline = Deadline.earliest(
            s.time_limit, self.inputs.started, self.inputs.reserve, self.inputs.time_cap, self.t0
        )
        if self.deadline is not None and self.inputs.start is None:  # an upscale keeps its scales
            # What is left of the limit after the start-up and the network's loading goes to
            # the plan, fitted from the costs known (this machine's calibration, else the prior).
            fitted = fit_plan(
                self.inputs.content.size,
                s.size,
                s.steps,
                self.cost,
                self.deadline.left() * BUDGET_MARGIN,
                multiscale=s.multiscale,
                min_side=min_input_size([s.content_layer, *s.style_layers]),
            )
            if fitted.plan != self.inputs.plan:  # the tiles belong to the plan that runs
                self.inputs = dataclasses.replace(
                    self.inputs,
                    plan=fitted.plan,
                    memory=memory_plans(fitted.plan, s, self.inputs.device, self.inputs.masks is not None),
                )
            self.note = None if fitted.note is None else f"{self.deadline.name}: {fitted.note}"
        self.eta = Eta(self.inputs.work_plan(), self.cost)  # tiled scales as the pixels their tiles cover

    # --- The phases, in order -------------------------------------------------------------

    def events(self) -> Iterator[Progress]:
        """Every phase, yielding progress: setup, each scale, the result."""
        self.setup()
        self.fit_time()
        inputs, s = self.inputs, self.s
        # The photo at the output size: the chroma source of swap and luminance modes and what
        # regional runs keep outside the masks; not held otherwise (an image-sized buffer).
        needs_photo = s.preserve_color in ("swap", "luminance") or inputs.masks is not None
        self.render = Render(s.preserve_color, im.to_tensor(inputs.output) if needs_photo else None, self.union)
        if inputs.start is not None:  # an upscale: the first scale starts from this image, resized
            self.image = im.to_tensor(inputs.start, inputs.device)
            if s.preserve_color == "luminance":  # the network sees grey images in this mode
                self.image = color.grey(color.luminance(self.image))
        index, stopped = 0, False
        for index, scale in enumerate(inputs.plan):
            # A tiled scale is there to bound memory: on the CPU its large blocks are returned
            # on free, not kept in the heap for speed (nst.cpu.lean_memory).
            tiled = bool(inputs.memory) and inputs.memory[index].tiled and inputs.device.type == "cpu"
            with cpu.lean_memory() if tiled else contextlib.nullcontext():
                stopped = yield from self.optimise_scale(index, scale)
            if inputs.device.type == "cpu":
                # The heap keeps freed blocks during a run (nst.cpu.keep_memory), each of a
                # scale's own sizes; the next scale's larger ones (or the finishing's) do not fit
                # in them, so they would stay resident beside it: given back after every scale.
                cpu.return_memory()
            if stopped or self.step >= inputs.total_steps:
                break
            if self.stop is not None and self.stop.is_set():
                stopped = True
                break
        yield self.finish(index, stopped)

    # --- Phase 2 ---------------------------------------------------------------------------

    def begin_scale(self, index: int, scale: ScalePlan) -> tuple[Image.Image, Objective | TiledObjective]:
        """A scale's content at its size, and its objective (whose targets are computed now);
        the image to optimise (the previous scale's, resized) in ``self.image``."""
        s, inputs, device = self.s, self.inputs, self.inputs.device
        content_img = (
            inputs.output if scale.wh == inputs.output.size else im.resize_to_long_side(inputs.content, max(scale.wh))
        )
        pixels = content_img.width * content_img.height
        c = im.to_tensor(content_img, device)
        # Each style is resized to the scale's pixel count (times style_scale²), so its
        # features keep the same scale relative to the content at every scale.
        st = [im.to_tensor(im.resize_to_pixels(x, s.style_scale**2 * pixels), device) for x in inputs.styles]
        c, st = color.recolor(s.preserve_color, c, st)
        assert self.eta is not None
        self.eta.scale_started(index)
        # [regions] The masks at this scale's size (area-averaged: no ringing, same mass).
        ms = None if self.masks is None else [resize_mask(m, c.shape[-2:]).to(device) for m in self.masks]
        cw = None if self.content_weight is None else resize_mask(self.content_weight, c.shape[-2:]).to(device)
        fs = (
            None
            if self.faces is None
            else FaceStructureLoss(
                c, *self.faces.at(c.shape), self.faces.weight, self.faces.gate, self.faces.features_at(c.shape)
            ).to(device)
        )
        memory = self._memory(index)
        objective: Objective | TiledObjective
        if memory is not None and memory.tiled:
            # Too large for the memory budget whole: tile by tile (nst.tiles); the faces' and
            # keep mask's content weight is cropped per tile, as the masks are.
            objective = TiledObjective(
                self.model, s, c, st, inputs.blend, self.amp, memory, masks=ms, content_weight=cw, exact=True, faces=fs
            )
        else:
            objective = Objective(
                self.model, s, c, st, inputs.blend, self.amp, self.gen, masks=ms, content_weight=cw, faces=fs
            )
        objective.check = self.check
        if self.image is None:
            photo = None if self.photo is None else resize_mask(self.photo, c.shape[-2:]).to(device)
            image = initial_image(s, c, st[0], self.gen, photo)
        elif s.init in ("content", "palette"):  # the content's detail, where the smaller scale had none
            image = upsample(self.image.detach(), c)
        else:
            image = resize(self.image.detach(), c.shape[-2:])
        del c, st, ms, cw, fs
        image.requires_grad_(True)
        self.image = image
        return content_img, objective

    def _memory(self, index: int) -> MemoryPlan | None:
        return self.inputs.memory[index] if self.inputs.memory else None

    def _time_share(self, index: int, scale: ScalePlan) -> tuple[int, float | None]:
        """The steps this scale takes and when it must end: under a deadline, its share of the
        time left, so that a run cut short still finishes at the output size."""
        if self.deadline is None:
            return scale.steps, None
        assert self.eta is not None
        left = self.deadline.left()
        spare = self.planned_steps - self.inputs.total_steps  # the steps a limit took out of the plan
        steps_here, share = fit_steps(self.inputs.work_plan()[index:], self.cost, left, self.eta.pace, spare)
        scale_deadline = time.perf_counter() + left * share
        self._set_steps(index, steps_here)
        return steps_here, scale_deadline

    def _set_steps(self, index: int, steps: int) -> None:
        """Scale ``index`` takes ``steps`` in all: the ETA's plan, and the run's where the last
        scale takes back steps a limit cut (so that the run's total counts them)."""
        assert self.eta is not None
        self.eta.replan(index, steps)
        old = self.inputs.plan[index]
        if steps > old.steps:
            plan = [*self.inputs.plan[:index], ScalePlan(old.wh, steps), *self.inputs.plan[index + 1 :]]
            self.inputs = dataclasses.replace(self.inputs, plan=plan)

    def _another_fits(self, index: int, dt: float, scale_deadline: float | None) -> bool:
        """Whether the last scale, its steps done, takes one more: under a deadline that the
        next step (as long as the last) meets, while the limit's plan left some of the run's steps out."""
        return (
            scale_deadline is not None
            and index == len(self.inputs.plan) - 1
            and self.inputs.total_steps < self.planned_steps
            and time.perf_counter() + dt <= scale_deadline
        )

    def optimise_scale(self, index: int, scale: ScalePlan) -> Generator[Progress, None, bool]:
        """Phase 2 for one scale: targets, then its steps. Returns True if the run was stopped."""
        s, inputs = self.s, self.inputs
        t_scale = time.perf_counter()
        content_img, objective = self.begin_scale(index, scale)
        image = self.image
        assert image is not None and self.eta is not None
        # A fresh optimiser per scale: L-BFGS's curvature pairs and Adam's moments belong to
        # the previous pixel grid.
        memory = self._memory(index)
        optimizer = make_optimizer(
            s, image, memory.history if memory is not None else 20, lean=memory is not None and memory.tiled
        )
        steps_here, scale_deadline = self._time_share(index, scale)
        closure, last = closure_of(objective, optimizer, image, s.tv_weight)
        times = self.timings.setdefault(index, (inputs.work_plan()[index].mpx, time.perf_counter() - t_scale, []))[2]
        try:
            done_here = 0
            while done_here < steps_here:
                done_here += 1
                t_step = time.perf_counter()
                try:
                    optimizer.step(closure)  # type: ignore[arg-type]  # torch types the closure as returning float; it returns J
                except Stopped:
                    # The closure runs before L-BFGS or Adam moves the pixels: the image is as
                    # the last whole step left it.
                    return True
                if s.optimizer == "lbfgs":
                    if done_here == 1:
                        first_step(optimizer, image, self.curvature)
                    limit_step(optimizer, image)
                # The box constraint 0 ≤ pixel ≤ 1, by projection after each step. Without it L-BFGS
                # leaves pixels outside [0, 1] for good, which show clipped, as bright speckles
                # (`python bench/trials.py range` compares the two on the objective alone).
                with torch.no_grad():
                    image.clamp_(0, 1)
                self.step += 1
                dt = time.perf_counter() - t_step
                self.eta.step_done(index, dt, first=done_here == 1)
                times.append(dt)
                self.losses = {k: float(v.detach()) for k, v in last.items()}
                if not all(map(finite, self.losses.values())):
                    raise DivergedError(
                        "the optimisation diverged (non-finite loss); lower style_weight or learning_rate"
                    )
                if done_here == steps_here and self._another_fits(index, dt, scale_deadline):
                    steps_here += 1  # the estimate's rounding left a step's time before the deadline
                    self._set_steps(index, steps_here)
                if self.step >= self.inputs.total_steps:
                    return False
                if self.stop is not None and self.stop.is_set():
                    return True
                # Move on (or finish) when the next step would overrun this scale's time.
                if scale_deadline is not None and time.perf_counter() + dt > scale_deadline:
                    return False
                yield self.progress(index, content_img.size, done_here, self.preview(image))
            return False
        finally:  # the curvature L-BFGS ended with, however the scale ended: the next scale's first step
            self.curvature = curvature_of(optimizer, image) or self.curvature

    def preview(self, image: torch.Tensor) -> Image.Image | None:
        """A preview of ``image`` where one is due (by time or by steps), else None."""
        s = self.s
        if self.preview_seconds is not None:
            want = time.perf_counter() >= self.next_preview
        else:
            want = bool(s.preview_every) and self.step % s.preview_every == 0
        if not want:
            return None
        # Previews carry the recipe with the steps done, should the run be stopped here.
        out = self.inputs.output.size
        wh = out if self.preview_size is None else fit(out, self.preview_size)
        assert self.render is not None
        preview = self.render(image, wh)
        preview.info[RECIPE_KEY] = json.dumps({**self.recipe, "steps_done": self.step})
        self.next_preview = time.perf_counter() + (self.preview_seconds or 0.0)
        if self.inputs.device.type == "cpu" and wh[0] * wh[1] >= TRIM_AFTER_PREVIEW:
            # A large preview is several image-sized temporaries (0.35 GB at 3072 px); the
            # heap keeps them (nst.cpu.keep_memory), and the next step's pass would be
            # stacked on their holes: given back. A small one is not worth it: giving the
            # heap back makes the next step fault its whole working set in again.
            cpu.return_memory()
        return preview

    def progress(
        self, index: int, wh: tuple[int, int], done_here: int, image: Image.Image | None, **kw: Any
    ) -> Progress:
        """The event after a step of scale ``index`` (``done_here`` of its steps done)."""
        assert self.eta is not None
        left = None if self.deadline is None else self.deadline.left()
        return Progress(
            step=self.step,
            total=self.inputs.total_steps,
            losses=dict(self.losses),
            elapsed=time.perf_counter() - self.t0,
            size=wh,
            image=image,
            settings=self.s,
            scale=(index + 1, len(self.inputs.plan)),
            work_done=self.eta.work_done,
            work_total=self.eta.work_total,
            eta=0.0 if kw.get("done") else self.eta.seconds_left(index, done_here, left),
            note=self.note,
            **kw,
        )

    # --- Phase 3 ---------------------------------------------------------------------------

    def finish(self, index: int, stopped: bool) -> Progress:
        """The last event: the result at the output size (also when stopped: the image after
        the last whole step), with its recipe; a whole run's timings refine the cost model."""
        inputs, s = self.inputs, self.s
        if self.image is None:  # stopped before the first scale had an image: the start image
            c = im.to_tensor(inputs.output, inputs.device)
            style = resize(im.to_tensor(inputs.styles[0], inputs.device), c.shape[-2:])
            photo = None if self.photo is None else self.photo.to(inputs.device)
            self.image = initial_image(s, c, style, self.gen, photo)
        t_finish = time.perf_counter()
        assert self.render is not None
        result = self.render(self.image, inputs.output.size)
        recipe = self.recipe if not stopped else {**self.recipe, "steps_done": self.step}
        result.info[RECIPE_KEY] = json.dumps(recipe)  # written by nst.save_png (and the CLI and app)
        if not stopped:
            costs.learn(
                inputs.device,
                dtype_name(self.amp),
                self.cost,
                self.timings,
                time.perf_counter() - t_finish,
                keep=self.cpu_share.had_the_cpu(inputs.device),
            )
        if self.deadline is not None and not stopped and (self.note is not None or self.step < self.planned_steps):
            # What the limit left in the end: a busy machine can cut more than the plan did,
            # and the last scale can take back steps the plan cut (nst.timelimit.fit_steps).
            kept = limit_note(s.steps, s.size, self.step, max(inputs.plan[index].wh))
            self.note = f"{self.deadline.name}: {kept}" if self.step < self.planned_steps else None
        final = self.progress(index, inputs.output.size, 0, result, done=True, stopped=stopped)
        final.total = self.step if not stopped else inputs.total_steps
        self.image = None
        return final
