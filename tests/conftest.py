import atexit
import os
import shutil
import tempfile
from pathlib import Path

import pytest

# The machine's calibration cache (nst.calibration_cache) in a folder of the test session's
# own, set before nst is imported: the suite never reads or writes the user's cache. Server
# processes that tests start inherit it, and so do pytest-xdist's workers (started from
# this process, which imports this file first): the machine is timed once in a session, by
# whichever process needs it first, while the others wait for it (nst's machine lock).
if os.environ.get("NST_TEST_SESSION_CACHE") != os.environ.get("NST_CACHE_DIR") or "NST_CACHE_DIR" not in os.environ:
    os.environ["NST_CACHE_DIR"] = os.environ["NST_TEST_SESSION_CACHE"] = tempfile.mkdtemp(prefix="nst-test-cache-")
    atexit.register(shutil.rmtree, os.environ["NST_CACHE_DIR"], True)

# Gradio without analytics (there is no network), and its example cache (read when the app's
# page is built or an example first runs) in a folder of this process's, not the repository's.
os.environ.setdefault("GRADIO_ANALYTICS_ENABLED", "False")
if "GRADIO_EXAMPLES_CACHE" not in os.environ:
    os.environ["GRADIO_EXAMPLES_CACHE"] = tempfile.mkdtemp(prefix="nst-test-examples-")
    atexit.register(shutil.rmtree, os.environ["GRADIO_EXAMPLES_CACHE"], True)

# Under pytest-xdist (`-n 2`, the README's command) each worker gets its share of the cores
# for PyTorch, set before torch is imported (processes that tests start inherit it): two
# workers of two OpenMP threads each on two cores would wait on each other's spinning threads.
_workers = int(os.environ.get("PYTEST_XDIST_WORKER_COUNT", "1"))
if _workers > 1 and "OMP_NUM_THREADS" not in os.environ:
    os.environ["OMP_NUM_THREADS"] = str(max(1, (os.cpu_count() or 1) // _workers))

# The shared constants and helpers are in tests/support (imported after the set-up above).
from .support.paths import CONTENT, OTHER_STYLE, STYLE  # noqa: E402


@pytest.fixture(scope="session")
def content_path() -> Path:
    return CONTENT


@pytest.fixture(scope="session")
def style_path() -> Path:
    return STYLE


@pytest.fixture(scope="session")
def other_style_path() -> Path:
    """A second style, for blends."""
    return OTHER_STYLE


@pytest.fixture(scope="module")
def bad_case_dir(tmp_path_factory) -> Path:
    """A folder holding every case of the bad-input catalogue (bench/bad_inputs.py), written
    once for the module."""
    from bench import bad_inputs

    folder = tmp_path_factory.mktemp("bad-inputs")
    bad_inputs.build(folder)
    return folder


@pytest.fixture(scope="module")
def bad_cases(bad_case_dir) -> dict:
    """The catalogue's cases by name, their files in ``bad_case_dir``."""
    from bench import bad_inputs

    return {c.name: c for c in bad_inputs.build(bad_case_dir, write=False)}


@pytest.fixture
def fixed_cost(monkeypatch) -> list[str]:
    """``nst.calibrate`` replaced by a fixed cost model, for tests that do not measure the
    calibration itself (tests/test_pipeline.py does): the list records each call's device."""
    import nst
    from nst import pipeline
    from nst.schedule import CostModel

    model = CostModel(step=(0.01, 1.0), scale=(0.05, 1.0), finish=(0.02, 0.2), setup=1.0, measured=True)
    calls: list[str] = []

    def calibrate(device="auto", precision="auto") -> CostModel:
        calls.append(str(device))
        return model

    monkeypatch.setattr(nst, "calibrate", calibrate)
    monkeypatch.setattr(pipeline, "calibrate", calibrate)
    return calls


# Under pytest-xdist, tests go to the two workers one at a time, except these modules', whose
# module-wide fixture is costly to have twice (the ZeroGPU emulation's process, Chromium):
# each of these modules runs whole on one worker, and first (xdist starts the scopes with the
# most tests first). Servers in-process (tests/support/app_server.py) are cheap: a module whose tests
# are split gets one on each worker.
ONE_WORKER_MODULES = {"test_zerogpu.py", "test_browser.py"}
# Then the modules of the longest single tests (the README's snippets, 30–65 s each on one
# core; tiles against the whole image; real app processes), so that no long test starts last
# while the other worker has nothing left: the rest keeps its order.
LONG_TESTS_FIRST = ("test_readme.py", "test_tiles.py", "test_workdir.py", "test_upscale.py")


@pytest.hookimpl(optionalhook=True)  # a hook of pytest-xdist, if installed
def pytest_xdist_make_scheduler(config, log):
    if config.getoption("dist") != "load":  # (-n's default) another --dist, as asked
        return None
    from xdist.scheduler import LoadScopeScheduling

    class Scheduling(LoadScopeScheduling):
        def _split_scope(self, nodeid: str) -> str:
            path = nodeid.split("::", 1)[0]
            return path if Path(path).name in ONE_WORKER_MODULES else nodeid

        def schedule(self) -> None:
            super().schedule()  # the first units out: the one-worker modules (most tests first)

            # What waits, in the order it goes out: the long tests' modules first.
            def first(scope: str) -> int:
                name = Path(scope.split("::", 1)[0]).name
                return LONG_TESTS_FIRST.index(name) if name in LONG_TESTS_FIRST else len(LONG_TESTS_FIRST)

            waiting = sorted(self.workqueue.items(), key=lambda item: first(item[0]))
            self.workqueue.clear()
            self.workqueue.update(waiting)

    return Scheduling(config, log)
