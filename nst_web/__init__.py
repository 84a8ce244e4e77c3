"""nst_web: the nst web app (Gradio), served by ``python app.py`` and on Hugging Face Spaces.

    >>> import nst_web
    >>> demo = nst_web.start()      # this process's folder, the weights, the page (once)
    >>> nst_web.serve(demo)         # launch, and serve until Ctrl-C or SIGTERM

or ``nst_web.main(["--share"])``, which is ``python app.py --share``. Importing the package,
or any of its modules, does nothing else: no folder, no weights, no page, no environment
variable (and the package itself imports neither Gradio nor torch; its modules use nst's
public API, which imports torch).

Modules, by concern:

- the app's life: :mod:`.server` (start, launch, serve, stop), :mod:`.folder` and
  :mod:`.workdir` (the process's temporary folder), :mod:`.background` (runs on threads that stop at exit);
- the page: :mod:`.page` (the layout: rows, controls, which event calls which handler),
  :mod:`.parts` (components from nst's Settings metadata, messages, result files);
- the handlers: :mod:`.run` (/stylize, /upscale, Stop), :mod:`.hints` (the estimate, the
  faces line), :mod:`.settings` (a recipe into the controls), :mod:`.painting` and
  :mod:`.brush` (strokes into masks), :mod:`.visit` and :mod:`.gallery` (this visit's results);
- the GPU: :mod:`.gpu` (``spaces.GPU`` on ZeroGPU, a plain call elsewhere), :mod:`.machine`
  (the device, its name, the size cap);
- what a request may do and cost: :mod:`.door` (every event guarded or cheap),
  :mod:`.queue` (fair shares), :mod:`.uploads` (files only from uploads), :mod:`.budgets`
  (time, memory, disk);
- :mod:`.gradio_patches`: every Gradio internal the app relies on, checked against one
  Gradio version.
"""

from __future__ import annotations

from typing import Any

__all__ = ["build_demo", "launch_kwargs", "main", "serve", "start"]


def start() -> Any:
    """The app of this process (a ``gr.Blocks``), set up and built once: its own temporary
    folder (claimed first, before Gradio is imported: see :mod:`.folder`), Pillow's pixel
    cap, ``spaces`` before torch touches CUDA, the weights, the page. Later calls return
    the same page. See :func:`.server.start`."""
    from . import folder

    folder.claim()
    from . import server

    return server.start()


def main(argv: list[str] | None = None, started: float | None = None) -> None:
    """``python app.py [--share]``: start, calibrate, serve until Ctrl-C or SIGTERM. See
    :func:`.server.main`."""
    from . import folder

    folder.claim()  # before Gradio is imported
    from . import server

    server.main(argv, started)


# The other functions, from their modules when first asked for (so that importing the
# package imports neither Gradio nor torch).
_WHERE = {"build_demo": "page", "launch_kwargs": "server", "serve": "server"}


def __getattr__(name: str) -> Any:
    if name in _WHERE:
        import importlib

        return getattr(importlib.import_module(f".{_WHERE[name]}", __name__), name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


def __dir__() -> list[str]:
    return sorted([*globals(), *_WHERE])
