"""The nst web app: Gatys-style neural style transfer in the browser, with live previews.

Run it with ``python app.py`` (http://127.0.0.1:7860; ``GRADIO_SERVER_NAME`` and ``GRADIO_SERVER_PORT``
move it, ``--share`` or ``NST_SHARE=1`` asks for a public link, ``NST_RUN_SECONDS`` caps a
run); on Spaces it is the ``app_file``. The app is the package ``nst_web``, a view over
:func:`nst.stylize` through nst's public API; this file starts it.

The page (its layout: ``nst_web/page.py``; each handler in the module of its concern)::

    Neural style transfer (app.md's introduction)
    ┌ Content image | Style image ─────────────┐ ┌ Result (live preview) ────────────────┐
    │ Paint where each style goes (brush)      │ │ Status · Loss curve                   │
    │ Steps · Style strength ⇄ β/α · layers    │ │ Before / after · Full-resolution PNG  │
    │ Keep faces (faces found)                 │ │ Upscale ×2                            │
    │ [Run] [Stop] · estimated time            │ └───────────────────────────────────────┘
    │ Advanced: size, colour, loss, … masks,   │
    │   keep mask, settings from a PNG         │
    │ Examples · What the controls do          │
    │ Video: clip · Run on the clip · frames   │
    └──────────────────────────────────────────┘
    This visit's results: gallery · Compare A / B

Events (→ handler; every one guarded in a queue group or marked cheap: ``nst_web/door.py``)::

    Run     → run.pressed → painting.painted_masks → painting.painted_keep
              → run.stylize (/stylize, "gpu") → visit.add_result
    Upscale → run.upscale (/upscale, "gpu") → visit.add_result
    Run on the clip → run.pressed → video.stylize_clip (/stylize_clip, "gpu")
    Stop    → run.pressed(stop)   (a run's, or a clip's: it keeps the frames done)
    content, steps, size      → hints.estimate_text (/estimate)
    content, Keep faces       → hints.faces_found ("light");  content → painting.paint_on
    settings PNG              → settings.load_recipe;  gallery pick → visit.pick_result
    Compare A / B             → visit.compare_results ("light")
"""

import time

_STARTED = time.perf_counter()  # for the start-up's own line; Python's start is a little before

import nst_web  # noqa: E402  (does nothing at import: main() starts the app)

if __name__ == "__main__":
    nst_web.main(started=_STARTED)
