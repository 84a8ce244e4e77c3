"""The page: its layout (rows, controls, which event calls which handler), its text and style.

The handlers live in modules named for their concern: :mod:`.run` (/stylize, /upscale,
Run and Stop), :mod:`.hints` (the estimate under Run, the faces line), :mod:`.settings`
(a recipe into the controls), :mod:`.painting` (the brush's strokes into masks) and
:mod:`.visit` (this visit's gallery, the compare slider). Every event goes through the
door (:func:`.door.seal`): guarded in a queue group, or marked cheap.
"""

from __future__ import annotations

import inspect
import json
import math
from pathlib import Path
from typing import Any

import gradio as gr

import nst
from nst import STRENGTHS, strength

from . import brush, budgets, door, gradio_patches, hints, machine, painting, queue, run, settings, uploads
from . import video as video_section
from . import visit as visit_results
from .door import guarded
from .gallery import Gallery
from .parts import as_path, as_paths, control

EXAMPLES_DIR = uploads.EXAMPLES_DIR
QUEUE_SIZE = 16  # waiting runs; more get "queue full" rather than a long wait
# Photos with real paintings (public domain, see examples/README.md), and one synthetic style.
EXAMPLE_PAIRS = (("astronaut.jpg", "starry_night.jpg"), ("chelsea.jpg", "shipwreck.jpg"), ("coffee.jpg", "mosaic.jpg"))
EXAMPLE_RUN = {"steps": 100, "size": 256}  # cheap enough to cache lazily on a CPU
# The page's text (Markdown): the introduction, the help of the controls, the brush's help.
PAGE_TEXT = Path(__file__).resolve().parents[1] / "app.md"

# The loss curve's terms (nst.Progress.terms): colour, the colour's name, and what the term is.
TERMS = {
    "content": ("#2563eb", "blue", "content"),
    "style": ("#ea580c", "orange", "style × β"),
    "total": ("#16a34a", "green", "total J"),
}

CSS = """
#nst-status { min-height: 1.5em; }
#nst-estimate p { margin: 0; opacity: 0.8; }
/* Previews of the coarse scales are small: show every preview at the full width. */
#nst-result .image-container > button, #nst-result .image-frame { width: 100%; }
#nst-result .image-frame img { width: 100%; height: auto; max-height: 480px; object-fit: contain; }
/* The visit's gallery: small thumbnails from the first run on (Gradio widens a few to fill the row). */
#nst-gallery .grid-container { grid-template-columns: repeat(auto-fill, minmax(120px, 180px)); grid-auto-rows: 120px; }
"""


def page_text() -> tuple[str, str, str]:
    """The introduction, the controls' help and the brush's help, from app.md."""
    page = PAGE_TEXT.read_text().split("-->", 1)[1]
    intro, help_text, paint_help = (part.strip() for part in page.split("\n---\n", 2))
    return intro, help_text, paint_help


# Over 80 lines: the page's layout is one tree of Gradio contexts, read top to bottom as the
# page shows it (app.py's docstring draws it); its handlers live in their own modules.
def build_demo() -> gr.Blocks:
    """The app's page: its Blocks, with its queue set and its door sealed; launch it with
    ``server.launch_kwargs()``. Call after :func:`nst_web.start` has set the process up
    (this builds a new page each time; the app serves the one ``start`` returns)."""
    intro, help_text, paint_help = page_text()
    private = {"queue": False, "show_progress": "hidden", "api_visibility": "private"}
    with gr.Blocks(title="Neural style transfer", delete_cache=budgets.delete_cache()) as demo:
        gr.Markdown(intro)
        with gr.Row(equal_height=False):
            with gr.Column(scale=1, min_width=320):
                with gr.Row():
                    content, style = (
                        as_path(
                            gr.Image(
                                label=f"{what.capitalize()} image",
                                type="filepath",
                                image_mode=None,
                                min_width=200,
                                sources=["upload", "clipboard"],
                                height=240,
                                elem_id=f"nst-{what}",
                            ),
                            what,
                        )
                        for what in ("content", "style")
                    )
                with gr.Accordion("Paint where each style goes (optional)", open=False, elem_id="nst-paint"):
                    painter = uploads.bounded_blobs(
                        uploads.uploads_only(
                            gr.ImageEditor(
                                label="Brush on the content image",
                                type="pil",
                                image_mode="RGBA",
                                sources=[],
                                format="png",
                                layers=False,
                                transforms=[],
                                height=360,
                                elem_id="nst-painter",
                                brush=gr.Brush(colors=brush.brush_colors(keep=True), color_mode="fixed"),
                                eraser=gr.Eraser(),
                            ),
                            "the brush canvas",
                        )
                    )
                    gr.Markdown(paint_help)
                controls: dict[str, gr.components.Component] = {}
                controls["steps"] = control("steps", cls=gr.Slider, minimum=1, maximum=nst.LIMITS.max_steps, step=1)
                # A strength slider over log₁₀ β/α, marked with nst's words; the ratio itself
                # is in the box beside it, and is what is sent.
                marks = [(word, math.log10(w)) for word, w in STRENGTHS]
                log_weight, lo, hi = math.log10(nst.DEFAULT.style_weight), math.floor(marks[0][1]) - 1, marks[-1][1]
                with gr.Row(equal_height=True):
                    weight_slider = gr.Slider(
                        lo,
                        hi,
                        value=log_weight,
                        step=0.1,
                        scale=3,
                        min_width=250,
                        label="Style strength",
                        info=" · ".join(f"{word} {w:g}" for word, w in STRENGTHS) + " (β/α, log scale)",
                        elem_id="nst-style-weight-log",
                    )
                    controls["style_weight"] = control("style_weight", info=None, scale=1, min_width=110)
                strength_word = gr.Markdown(f"**{strength(nst.DEFAULT.style_weight)}**", elem_id="nst-strength")
                controls["content_layer"] = control("content_layer")
                controls["style_layers"] = control("style_layers")
                # Faces: the checkbox, and beside it the faces found in the content image.
                controls["keep_faces"] = control("keep_faces", label="Keep faces")
                faces_note = gr.Markdown("", elem_id="nst-faces")
                # Run sits above Advanced, so that it stays in reach when Advanced is open.
                with gr.Row():
                    run_btn = gr.Button("Run", variant="primary", elem_id="nst-run")
                    stop_btn = gr.Button("Stop", variant="stop", elem_id="nst-stop")
                estimate = gr.Markdown(
                    hints.estimate_text(None, nst.DEFAULT.steps, nst.DEFAULT.size), elem_id="nst-estimate"
                )
                with gr.Accordion("Advanced", open=False, elem_id="nst-advanced"):
                    controls["size"] = control(
                        "size", cls=gr.Slider, minimum=nst.LIMITS.min_size, maximum=machine.max_size(), step=16
                    )
                    with gr.Row():  # two columns on a laptop, one on a phone
                        for name in settings.ADVANCED_SETTINGS[1:]:
                            controls[name] = control(name, min_width=200)
                    more_styles = as_paths(
                        gr.File(
                            label="More style images (blended with the first by the blend weights)",
                            height=140,
                            file_count="multiple",
                            file_types=["image"],
                            type="filepath",
                            elem_id="nst-more-styles",
                        ),
                        "more_styles",
                    )
                    masks = as_paths(
                        gr.File(
                            label="Masks, one per style (painted ones appear here at Run; or upload greyscale PNGs)",
                            file_count="multiple",
                            file_types=["image"],
                            type="filepath",
                            height=140,
                            elem_id="nst-masks",
                        ),
                        "masks",
                    )
                    keep = as_path(
                        gr.Image(
                            label="Keep mask (white: keep the photo's structure; the brush's white strokes appear here at Run)",
                            type="filepath",
                            image_mode=None,
                            sources=["upload"],
                            height=140,
                            elem_id="nst-keep",
                        ),
                        "keep",
                    )
                    recipe_file = uploads.uploads_only(
                        gr.File(
                            label="Load settings from an nst PNG (its recipe)",
                            file_types=[".png"],
                            type="filepath",
                            height=140,
                            elem_id="nst-recipe",
                        ),
                        "recipe",
                    )
                examples_here = gr.Column()
                with gr.Accordion("What the controls do", open=False):
                    gr.Markdown(help_text)
                video_section.section(style, controls)  # a clip with the same painting and controls
            with gr.Column(scale=1, min_width=320):
                result = gr.Image(
                    label="Result (live preview)",
                    type="filepath",
                    format="png",
                    interactive=False,
                    buttons=["download", "fullscreen"],
                    elem_id="nst-result",
                )
                status = gr.Markdown("", label="Status", elem_id="nst-status")
                # Starts as None: Gradio 6.31 draws no lines into a plot mounted with an empty
                # frame, and shows no legend for data that came later, so the label has it.
                curve = gr.LinePlot(
                    None,
                    x="step",
                    y="loss",
                    color="term",
                    color_map={t: c for t, (c, _, _) in TERMS.items()},
                    label="Loss curve (log₁₀) · " + " · ".join(f"{name}: {what}" for _, name, what in TERMS.values()),
                    x_title="step",
                    y_title="log₁₀ loss",
                    color_title=" ",
                    height=220,
                    elem_id="nst-curve",
                )
                # Shown once there is a result (see download.change below).
                with gr.Column(visible=False, elem_id="nst-finished") as finished:
                    compare = gr.ImageSlider(
                        label="Before / after (drag the handle)",
                        type="pil",
                        interactive=False,
                        max_height=480,
                        elem_id="nst-compare",
                    )
                    download = uploads.uploads_only(
                        gr.File(label="Full-resolution PNG", interactive=False, height=90, elem_id="nst-download"),
                        "download",
                    )
                    upscale_btn = gr.Button(
                        f"Upscale ×{run.UPSCALE} (adds finer scales to this result)", elem_id="nst-upscale"
                    )
        with gr.Accordion("This visit's results (gone when the tab closes)", open=True, elem_id="nst-visit"):
            visit = gr.State(Gallery())  # per tab: nothing is shared between visitors
            gallery = gr.Gallery(
                label="Pick one to see it again with its settings",
                columns=6,
                height=200,
                allow_preview=False,
                interactive=False,
                object_fit="contain",
                elem_id="nst-gallery",
            )
            with gr.Row():
                compare_a, compare_b = (
                    gr.Dropdown(
                        label=f"Compare {side} (on the before/after slider)",
                        choices=[],
                        elem_id=f"nst-compare-{side.lower()}",
                    )
                    for side in ("A", "B")
                )
        outputs = [result, status, curve, compare, download]
        examples = _examples()
        if examples:
            with examples_here:
                examples_ui = gr.Examples(
                    examples=examples,
                    inputs=[content, style, controls["steps"], controls["size"]],
                    outputs=outputs,
                    fn=run.run_example,
                    cache_examples=True,
                    cache_mode="lazy",
                    visible_columns=[0, 1],
                    example_labels=[f"{Path(c).stem} × {Path(s).stem}" for c, s, *_ in examples],
                    label=f"Examples ({EXAMPLE_RUN['size']} px, {EXAMPLE_RUN['steps']} steps; computed once, on first use)",
                )
                # An example's first use is a run: under the runs' limit, not beside one.
                gradio_patches.put_in_group(demo, examples_ui.cache_event["id"], "gpu", door.GROUPS["gpu"])

        # The ratio is shown and sent as itself; the slider moves it by powers of ten.
        weight_slider.input(
            None,
            [weight_slider],
            [controls["style_weight"]],
            js="(x) => Number(Math.pow(10, x).toPrecision(3))",
            api_visibility="private",
        )
        controls["style_weight"].input(
            None,
            [controls["style_weight"], weight_slider],
            [weight_slider],
            api_visibility="private",
            js=f"(r, cur) => (r > 0 ? Math.min({hi}, Math.max({lo}, Math.round(Math.log10(r) * 10) / 10)) : cur)",
        )
        # The word under the slider: the nearest mark on the log scale (nst.settings.strength's JS twin).
        gr.on(
            [controls["style_weight"].change, controls["normalization"].change],
            None,
            [controls["style_weight"], controls["normalization"]],
            [strength_word],
            api_visibility="private",
            js=f"""(r, norm) => {{ if (norm !== "pair") return "(in " + norm + " units a ratio has no fixed look)";
                   if (!(r > 0)) return "**photo only**"; const m = {json.dumps(marks)}, x = Math.log10(r);
                   let best = m[0]; for (const k of m) if (Math.abs(k[1] - x) < Math.abs(best[1] - x)) best = k;
                   return "**" + best[0] + "**"; }}""",
        )
        gr.on(
            [content.change, controls["steps"].change, controls["size"].change],
            hints.estimate_text,
            [content, controls["steps"], controls["size"]],
            [estimate],
            trigger_mode="always_last",
            queue=False,
            show_progress="hidden",
            api_name="estimate",  # public: a client can learn a run's time first
            api_description="nst's estimate of a /stylize run of this content image at these steps and size.",
        )
        download.change(visit_results.show_finished, [download], [finished], **private)
        settings_out = [*(controls[n] for n in (*settings.MAIN_SETTINGS, *settings.ADVANCED_SETTINGS)), weight_slider]
        recipe_file.upload(settings.load_recipe, [recipe_file], settings_out, **private)
        content.change(painting.paint_on, [content], [painter], **{**private, **guarded(group="light")})
        gr.on(
            [content.change, controls["keep_faces"].change],
            hints.faces_found,
            [content, controls["keep_faces"]],
            [faces_note],
            trigger_mode="always_last",
            **{**private, **guarded(group="light")},
        )
        gallery.select(visit_results.pick_result, [visit], [result, download, status, *settings_out], **private)
        gr.on(
            [compare_a.input, compare_b.input],
            visit_results.compare_results,
            [compare_a, compare_b, visit],
            [compare],
            **{**private, **guarded(group="light")},
        )
        missing = set(controls) - set(inspect.signature(run.stylize).parameters)
        assert not missing, f"stylize() needs a parameter for each control; add {missing}"
        # The masks are computed in the queue, one request at a time, beside (not behind) the runs.
        run_btn.click(run.pressed(False), None, None, queue=False, api_visibility="private").then(
            painting.painted_masks,
            [painter, masks, more_styles],
            [masks],
            **{**private, **guarded(group="brush")},
        ).success(painting.painted_keep, [painter, keep], [keep], **{**private, **guarded(group="brush")}).success(
            run.stylize,
            [content, style],
            outputs,
            inputs_kwargs={**controls, "more_styles": more_styles, "masks": masks, "keep": keep},
            api_name="stylize",
            api_description=run.api_description(),
            **guarded(group="gpu"),
            show_progress="minimal",
            scroll_to_output=True,
        ).success(visit_results.add_result, [download, visit], [gallery, visit, compare_a, compare_b], **private)
        upscale_btn.click(run.pressed(False), None, None, queue=False, api_visibility="private").then(
            run.upscale,
            [download, content, style, more_styles, masks, keep],
            outputs,
            api_name="upscale",
            api_description=run.upscale.__doc__.split("\n\n")[0],
            **guarded(group="gpu"),
            show_progress="minimal",
            scroll_to_output=True,
        ).success(visit_results.add_result, [download, visit], [gallery, visit, compare_a, compare_b], **private)
        stop_btn.click(run.pressed(True), None, None, queue=False, api_visibility="private")
        demo.unload(run.pressed(False))
    demo.queue(
        max_size=QUEUE_SIZE, api_open=False
    )  # queued events only through the queue (Gradio opens /run/ off Spaces)
    queue.poll_less(demo)
    door.seal(demo)  # every event guarded or cheap; fair shares per group; files only from uploads
    return demo


def _examples() -> list[list[Any]]:
    """(content, style, steps, size) rows for the example pairs whose files are present."""
    return [
        [str(EXAMPLES_DIR / c), str(EXAMPLES_DIR / s), EXAMPLE_RUN["steps"], EXAMPLE_RUN["size"]]
        for c, s in EXAMPLE_PAIRS
        if (EXAMPLES_DIR / c).is_file() and (EXAMPLES_DIR / s).is_file()
    ]
