"""The lines the page shows before a run: the estimated time under Run, and the faces found
beside *Keep faces*. Both are cheap or light: the estimate reads the photo's header only,
the faces line reads the photo reduced (:func:`.budgets.preview_image`).
"""

from __future__ import annotations

import html
from typing import Any

from PIL import Image

import nst
from nst import format_seconds

from . import budgets, machine, parts
from .door import cheap

_PLACEHOLDER_SIZE = (640, 480)  # the image the estimate assumes before an upload (4:3)


@cheap("reads the photo's header; plans a blank image of at most the app's size, faces off")
def estimate_text(content: str | None, steps: Any, size: Any) -> str:
    """The 'estimated time' line shown under the Run button: nst's estimate for this image."""
    try:
        s = nst.DEFAULT.replace(steps=steps, size=size, keep_faces=False)  # faces change no cost
        if s.size > machine.max_size():
            return html.escape(f"⚠️ {nst.size_cap_message(s.size, machine.device())}", quote=False)
        # The plan depends on the photo's shape only: its header gives it (no pixels are
        # decoded here, outside the run's queue), and a blank image of that shape stands in.
        image = parts.stand_in(content, s.size) if content else Image.new("RGB", _PLACEHOLDER_SIZE)
        secs = nst.prepare(image, image, s).estimate(calibrated=False)
    except nst.Error as exc:
        return html.escape(f"⚠️ {exc}", quote=False)
    line = f"Estimated time: about {format_seconds(secs)} ({s.steps} steps at {s.size} px on the {machine.label()})."
    cap = budgets.run_seconds(machine.device().type)
    if secs > cap:
        line += f" ⚠️ Over this app's cap of {format_seconds(cap)} a run: it will be planned to fit."
    return line


def faces_found(content: str | None, keep_faces: bool) -> str:
    """The line beside the *Keep faces* checkbox: the faces found in the content image (read
    reduced: the line only names them)."""
    if content is None:
        return ""
    try:
        image, factor = budgets.preview_image(content, "content image")
        found = [f.scaled(factor) for f in nst.detect_faces(image)]
    except nst.FaceDetectionUnavailable as exc:
        return f"⚠️ {exc}"
    except nst.Error:
        return ""  # an image nst refuses: Run says why
    if not found:
        return "No face found in the content image: it is painted as a whole."
    return f"Found {nst.describe_faces(found)}: " + ("kept (features in place)." if keep_faces else "not kept (off).")
