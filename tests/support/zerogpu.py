"""An emulated ZeroGPU on the CPU, for tests/test_zerogpu.py: the real `spaces` package in
ZeroGPU mode, with only what needs Hugging Face's servers or a GPU replaced.

Real: ``spaces``' import-time patching of torch (``cuda`` looks available in the main
process, and the model's move to ``cuda`` when the app starts makes ZeroGPU's placeholder tensors),
``@spaces.GPU``'s generator wrapper, its forked worker, its queues (every argument and
event is pickled), its stop event and its error handling.

Replaced (no network, no GPU):
- ``spaces.zero.client.schedule / allow / release``: a local scheduler (:class:`Scheduler`)
  that grants every request up to a visitor's quota and refuses larger ones with the
  message ``spaces`` builds from the server's answer (``QuotaInfos``), and records calls;
- ``spaces.zero.torch.init / move``, run in the worker: instead of initialising CUDA and
  copying the weights to the GPU, the placeholders get their CPU tensors back and every
  torch call in the worker's threads maps ``cuda`` to the CPU; ``torch.cuda`` reports the
  compute capability :func:`set_gpu` gives, and its convolutions run out of memory
  above the pixels it gives.

Import this module first, in a fresh process (``spaces`` reads ``SPACES_ZERO_GPU`` when
imported, and must be imported before anything initialises CUDA): :func:`start` does it.
"""

from __future__ import annotations

import json
import multiprocessing
import os
import tempfile
import threading
import time
import warnings
from datetime import timedelta
from typing import Any

os.environ["SPACES_ZERO_GPU"] = "true"
os.environ.setdefault("SPACES_ZERO_DEVICE_API_URL", "http://127.0.0.1:9")  # never reached: the client is faked
os.environ.setdefault("ZEROGPU_OFFLOAD_DIR", tempfile.mkdtemp(prefix="zerogpu-offload-"))
os.environ.setdefault("GRADIO_ANALYTICS_ENABLED", "False")

import torch  # noqa: E402

# The CPU build has no CUDA version; `spaces` reads it to choose its CUDA memory statistics.
torch.version.cuda = torch.version.cuda or "12.8"


def _no_cuda(*args: Any) -> None:
    raise RuntimeError("emulated ZeroGPU: CUDA was initialised outside the worker")


# ...and no CUDA entry points, which `spaces` saves before patching them.
for _name in ("_cuda_init",):
    if not hasattr(torch._C, _name):
        setattr(torch._C, _name, _no_cuda)

# The CPU build's stand-in is a lambda, which `spaces` cannot send to the process it asks;
# bool() is False and pickles (a function of this module would wait on its import lock).
torch.cuda._is_in_bad_fork = bool
warnings.filterwarnings("ignore", "Error while reading infos from Nvidia driver FS")

import spaces  # noqa: E402,F401  (patches torch, as on a Space)
from spaces.zero import api, client  # noqa: E402
from spaces.zero import torch as zero_torch  # noqa: E402
from spaces.zero.gradio import error as spaces_error  # noqa: E402
from spaces.zero.torch import patching  # noqa: E402
from torch.overrides import TorchFunctionMode  # noqa: E402


class Scheduler:
    """The scheduler's answers, and what was asked of it.

    Attributes:
        quota_left: seconds of GPU this visitor has left (None: unlimited). A request for
            more is refused as ZeroGPU refuses it, before anything runs.
        requests: the durations (s) asked for, in order, granted or not.
        released: (token, fail) for each release.
    """

    def __init__(self) -> None:
        self.quota_left: float | None = None
        self.requests: list[float] = []
        self.released: list[tuple[str, bool]] = []
        self._n = 0
        self._lock = threading.Lock()
        self._held: set[str] = set()  # reservations not released: their worker may be busy

    def schedule(
        self,
        task_id: int,
        request: Any = None,
        duration: timedelta | None = None,
        gpu_size: Any = None,
        _first_attempt: bool = True,
    ) -> api.ScheduleResponse:
        seconds = client.get_duration_seconds(duration, gpu_size)
        with self._lock:
            self.requests.append(seconds)
            if self.quota_left is not None and seconds > self.quota_left:
                # spaces.zero.client.schedule's message for a 429 (QuotaInfos) with a token
                info = api.QuotaInfos(left=int(self.quota_left), wait=timedelta(hours=3))
                raise spaces_error(
                    "ZeroGPU quota exceeded",
                    (
                        f"You have exceeded your free ZeroGPU quota ({round(seconds)}s requested vs. {info.left}s left). "
                        f"Try again in {info.wait}. "
                    ),
                )
            self._n += 1
            # idle: the worker of the last call is reused, as on a Space between calls; while
            # a reservation is held, spaces forks another.
            idle, token = not self._held, f"t{self._n}"
            self._held.add(token)
            return api.ScheduleResponse(idle=idle, nvidiaIndex=0, nvidiaUUID="GPU-emulated", allowToken=token)

    def release(self, allow_token: str, *, fail: bool = False, allow_404: bool = False) -> None:
        with self._lock:
            self.released.append((allow_token, fail))
            self._held.discard(allow_token)


SCHEDULER = Scheduler()


def _allow(allow_token: str) -> None:
    assert os.getpid() != 1


class _CudaOnCpu(TorchFunctionMode):
    """Every torch call's ``cuda`` device becomes the CPU (the worker's stand-in for a GPU)."""

    @staticmethod
    def _cpu(x: Any) -> Any:
        if isinstance(x, torch.device) and x.type == "cuda":
            return torch.device("cpu")
        if isinstance(x, str) and x.startswith("cuda"):
            return "cpu"
        return x

    def __torch_function__(self, func, types, args=(), kwargs=None):
        kwargs = kwargs or {}
        if func is torch.Tensor.cuda:
            return args[0]
        if getattr(func, "__name__", "") == "conv2d" and GPU[0]:
            # The emulated GPU's memory: a convolution over more pixels runs out, as CUDA does.
            x = args[0]
            if x.shape[-1] * x.shape[-2] > GPU[0]:
                raise torch.OutOfMemoryError("CUDA out of memory. Tried to allocate 2.00 GiB (emulated)")
        args = tuple(self._cpu(a) for a in args)
        kwargs = {k: self._cpu(v) for k, v in kwargs.items()}
        return func(*args, **kwargs)


# The emulated GPU, shared with the worker (forked later): the largest image (pixels) a
# convolution fits (0: no limit), and the compute capability, ×10 (75: a T4).
GPU = multiprocessing.get_context("fork").RawArray("q", 2)
GPU[1] = 90


def set_gpu(*, memory_pixels: int = 0, capability: float = 9.0) -> None:
    """What the emulated GPU is, from the next torch call in the worker on."""
    GPU[0], GPU[1] = memory_pixels, round(capability * 10)


def _capability() -> tuple[int, int]:
    return divmod(GPU[1], 10)


def _init(nvidia_uuid: str) -> None:
    """The worker's CUDA init: make `cuda` the CPU in every thread the worker starts."""
    os.environ["CUDA_VISIBLE_DEVICES"] = nvidia_uuid
    run = threading.Thread.run

    def run_on_cpu(self: threading.Thread) -> None:
        with _CudaOnCpu():
            run(self)

    threading.Thread.run = run_on_cpu
    torch.cuda.is_available = lambda: True
    torch.cuda.device_count = lambda: 1
    torch.cuda.get_device_capability = lambda *a, **k: _capability()
    torch.cuda.get_device_name = lambda *a, **k: "Emulated GPU (the CPU)"
    torch.cuda.synchronize = lambda *a, **k: None
    torch.cuda.is_bf16_supported = lambda *a, **k: True  # as a T4 answers (by emulation)


def _move(callback: Any = None) -> None:
    """The worker's copy of the weights to the GPU: the placeholders get their CPU tensors."""
    for fake, original in patching.cuda_aliases.items():
        if original is not None:
            fake.data = torch.Tensor(original)


def start() -> Scheduler:
    """Put the fakes in place (idempotent); returns the scheduler."""
    client.schedule = SCHEDULER.schedule
    client.allow = _allow
    client.release = SCHEDULER.release
    zero_torch.init = _init
    zero_torch.move = _move
    return SCHEDULER


start()


def worker_pids() -> list[int]:
    """The live ZeroGPU worker processes (forked children of this process)."""
    import multiprocessing

    return [p.pid for p in multiprocessing.active_children() if p.is_alive()]


def cpu_seconds(pid: int) -> float:
    """User + system CPU seconds a process has used (from /proc)."""
    fields = open(f"/proc/{pid}/stat").read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def idle_within(pid: int, seconds: float, quiet: float = 0.5) -> float | None:
    """Seconds from now until ``pid`` went idle: the start of the first ``quiet`` s in which
    it used under 10 ms of CPU (None: not within ``seconds``). On a busy machine a process
    that computes gets a share of a core, never nothing."""
    t0 = time.monotonic()
    samples = [(t0, cpu_seconds(pid))]
    while samples[-1][0] - t0 < seconds:
        time.sleep(0.05)
        now = (time.monotonic(), cpu_seconds(pid))
        samples.append(now)
        old = next(s for s in reversed(samples) if now[0] - s[0] >= quiet) if now[0] - t0 >= quiet else None
        if old is not None and now[1] - old[1] < 0.01:
            return old[0] - t0
    return None


# --- Scenarios, each run in a fresh process by tests/test_zerogpu.py --------------------


def _app() -> Any:
    import sys
    from pathlib import Path

    root = Path(__file__).resolve().parents[2]
    sys.path.insert(0, str(root))
    os.environ.setdefault("GRADIO_EXAMPLES_CACHE", tempfile.mkdtemp(prefix="zerogpu-examples-"))
    import nst_web
    from nst_web import run

    nst_web.start()  # as on a Space: the folder, the weights moved to "cuda" (ZeroGPU's placeholders), the page
    return run


class _Request:
    """What the app reads of a gr.Request."""

    def __init__(self, session: str) -> None:
        self.session_hash, self.headers = session, {}


CONTENT, STYLE = "examples/chelsea.jpg", "examples/starry_night.jpg"


def _plain(app: Any, capability: float) -> dict[str, Any]:
    """A short run on a GPU of this compute capability: its recipe and status."""
    import nst

    set_gpu(capability=capability)
    out = list(app.stylize(CONTENT, STYLE, steps=4, size=96, multiscale=False, request=_Request("plain")))
    return {"status": out[-1][1], "recipe": nst.read_recipe(out[-1][4]), "requests": list(SCHEDULER.requests)}


def _watch(app: Any, gen: Any, act: Any, steps_before: int = 3) -> dict[str, Any]:
    """Consume ``gen`` (a stylize stream) on a thread until the handler has had
    ``steps_before`` steps from the worker, then ``act()`` there; measure how long after it
    the worker went idle, the worker's step time, and the handler's last output."""
    seen: list[float] = []
    outs: list[Any] = []
    idle: list[float | None] = []
    acted, done = threading.Event(), threading.Event()
    watcher = threading.Thread(target=lambda: idle.append(idle_within(worker_pids()[0], 60.0)))

    def consume() -> None:
        try:
            for out in gen:
                outs.append(out)
                if not acted.is_set() and len(seen) >= steps_before:
                    watcher.start()  # from now: the act's moment
                    act()
                    acted.set()
                    if act.__name__ == "close":
                        break
        finally:
            done.set()

    undo = app_progress_hook(app, lambda: seen.append(time.monotonic()))
    try:
        threading.Thread(target=consume, daemon=True).start()
        if acted.wait(300):
            watcher.join()
        done.wait(10)  # the handler's end, after the worker's (or not: a worker still computing)
    finally:
        undo()
    gaps = sorted(b - a for a, b in zip(seen[:-1], seen[1:])) or [0.0]
    return {
        "step": gaps[len(gaps) // 2],
        "idle_after": idle[0] if idle else None,
        "steps_seen": len(seen),
        "last": [str(x)[:300] for x in outs[-1]] if outs and done.is_set() else None,
        "acted": acted.is_set(),
    }


def app_progress_hook(app: Any, hook: Any) -> Any:
    """Call ``hook`` at every Progress the app's handler receives from the GPU function;
    returns the undo."""
    import sys

    import nst_web.background as bg

    original = bg.in_thread

    def in_thread(start, *a, **k):
        def counted(stop):
            for item in start(stop):
                if item is not None and type(item).__name__ == "Progress":
                    hook()
                yield item

        return original(counted, *a, **k)

    # Where the app calls it: nst_web.gpu.
    holder = sys.modules["nst_web.gpu"]
    holder.in_thread = in_thread
    return lambda: setattr(holder, "in_thread", original)


def _stop(app: Any) -> dict[str, Any]:
    app._stopping.discard("stopper")
    gen = app.stylize(CONTENT, STYLE, steps=300, size=160, multiscale=False, request=_Request("stopper"))

    def stop() -> None:
        app._stopping.add("stopper")

    return _watch(app, gen, stop)


def _close(app: Any) -> dict[str, Any]:
    gen = app.stylize(CONTENT, STYLE, steps=300, size=160, multiscale=False, request=_Request("closer"))

    def close() -> None:
        gen.close()

    return _watch(app, gen, close)


OOM_PIXELS = 176 * 117 + 1  # the emulated GPU fits a 176 px run of the content (176×117)


def _oom(app: Any) -> dict[str, Any]:
    """A 256 px run is retried at 176 px; a 512 px run runs out at 512, 352 and 240 px."""
    import gradio as gr
    import nst

    set_gpu(memory_pixels=OOM_PIXELS)
    try:
        out = list(app.stylize(CONTENT, STYLE, steps=3, size=256, multiscale=False, request=_Request("oom")))
        first = {"statuses": [str(o[1]) for o in out], "size": nst.read_recipe(out[-1][4])["settings"]["size"]}
    except gr.Error as exc:
        first = {"statuses": [], "size": None, "error": exc.message}
    try:
        list(app.stylize(CONTENT, STYLE, steps=3, size=512, multiscale=False, request=_Request("oom2")))
        message = None
    except gr.Error as exc:
        message = exc.message
    set_gpu()
    return {**first, "message": message, "expected": str(nst.OutOfMemoryError(240, "cuda"))}


def _quota(app: Any) -> dict[str, Any]:
    """A visitor with a little more quota left than a run's minimum asks for a run that needs
    more (the run then fills what is left: the less, the shorter this check)."""
    import gradio as gr

    from nst_web import gpu as app_gpu

    quota = app_gpu.MIN_GPU_SECONDS + 1
    SCHEDULER.quota_left, before = quota, len(SCHEDULER.requests)
    try:
        out = list(app.stylize(CONTENT, STYLE, steps=3000, size=160, multiscale=False, request=_Request("quota")))
        result = {"statuses": [str(o[1]) for o in out], "error": None}
    except gr.Error as exc:
        result = {"statuses": [], "error": exc.message}
    SCHEDULER.quota_left = None
    return {**result, "requests": SCHEDULER.requests[before:], "quota": quota}


def _clip(app: Any) -> dict[str, Any]:
    """A clip longer than one GPU call: the calls are made so short that each holds one frame."""
    from pathlib import Path

    import av

    from bench import clips
    from nst_web import gpu as app_gpu
    from nst_web import video as app_video

    clip = clips.write_clip(Path(tempfile.mkdtemp(prefix="zerogpu-clip-")) / "in.mp4", 4, fps=10, audio=True)
    before, saved = len(SCHEDULER.requests), (app_gpu.MAX_GPU_SECONDS, app_gpu.GPU_MARGIN)
    app_gpu.MAX_GPU_SECONDS = app_gpu.GPU_MARGIN = app_gpu.MIN_GPU_SECONDS  # room for a frame a call
    try:
        out = list(app_video.stylize_clip(str(clip), STYLE, 5, None, False, 64, request=_Request("clip")))
    finally:
        app_gpu.MAX_GPU_SECONDS, app_gpu.GPU_MARGIN = saved
    result = out[-1][2]
    with av.open(result) as c:
        frames, audio = sum(1 for _ in c.decode(c.streams.video[0])), bool(c.streams.audio)
    return {"statuses": [str(o[1]) for o in out], "requests": SCHEDULER.requests[before:], "frames": frames,
            "audio": audio, "previews": sum(1 for o in out if isinstance(o[0], str))}  # fmt: skip


def scenario_clip(app: Any) -> dict[str, Any]:
    """The clip's check alone (``python -m tests.support.zerogpu clip``)."""
    return {"clip": _clip(app)}


def scenario_all(app: Any) -> dict[str, Any]:
    """Every check, in one process (one worker, as on a Space): the first run measures the
    emulated GPU's pace, which the later reservations use."""
    results: dict[str, Any] = {}
    for name, check in (
        ("plain75", lambda: _plain(app, 7.5)),
        ("plain80", lambda: _plain(app, 8.0)),
        ("stop", lambda: _stop(app)),
        ("close", lambda: _close(app)),
        ("oom", lambda: _oom(app)),
        ("quota", lambda: _quota(app)),
        ("clip", lambda: _clip(app)),
    ):
        t = time.monotonic()
        try:
            results[name] = check()
        except Exception as exc:  # one check's failure is its test's, not every test's
            results[name] = {"exception": f"{type(exc).__name__}: {exc}"}
        results[name]["seconds"] = round(time.monotonic() - t, 1)
        # The next visitor comes once this run's GPU is released (its worker then idle).
        deadline = time.monotonic() + 60
        while SCHEDULER._held and time.monotonic() < deadline:
            time.sleep(0.1)
        print(name, json.dumps(results[name], default=str)[:300], flush=True)
    return results


if __name__ == "__main__":
    import sys

    app = _app()
    name = sys.argv[1]
    result = globals()[f"scenario_{name}"](app)
    print("RESULT " + json.dumps(result, default=str), flush=True)
    for worker in multiprocessing.active_children():
        worker.kill()  # spaces' workers take SIGTERM as "no more tasks", and finish a run first
    os._exit(0)  # not Gradio's or spaces' exit handlers: nothing of theirs to keep
