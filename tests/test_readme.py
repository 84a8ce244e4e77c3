"""The README's Python and gradio_client snippets run as written, on the files in examples/."""

import os
import re
import shutil
import subprocess
import sys

import pytest

from .conftest import EXAMPLES, ROOT

README = (ROOT / "README.md").read_text()


def _snippet(heading: str) -> str:
    """The first ```python block after ``heading`` in the README."""
    after = README[README.index(heading):]
    return re.search(r"```python\n(.*?)```", after, re.S).group(1)


@pytest.fixture
def folder(tmp_path):
    """A folder with examples/ in it, as the repository's folder is: the snippets' files are there."""
    shutil.copytree(EXAMPLES, tmp_path / "examples")
    return tmp_path


@pytest.mark.slow
def test_the_python_api_snippet_runs_as_written(folder):
    code = _snippet("## Python API")
    assert "examples/chelsea.jpg" in code and "photo.jpg" not in code
    proc = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, cwd=folder, timeout=600,
        env={**os.environ, "PYTHONPATH": str(ROOT)},
    )
    assert proc.returncode == 0, proc.stderr[-2000:]
    out = proc.stdout.splitlines()
    # The timer's event ends the default run early (a fast GPU may finish first).
    assert re.search(r"^(stopped|finished) at step \d+$", proc.stdout, re.M), proc.stdout[-500:]
    assert (folder / "out.png").is_file() and sorted(p.name for p in folder.glob("step_*.png")) == [
        "step_0010.png", "step_0020.png", "step_0030.png"]
    plan = next(line for line in out if line.startswith("[(("))
    assert float(plan.rsplit(" ", 1)[1]) > 0  # the plan, then its estimate
    # The print-size plan: coarse scales whole, the finest in tiles, then its peak GB and estimate.
    tiles, peak, seconds = out[-1].rsplit(" ", 2)
    assert tiles.startswith("[(1, None)") and not tiles.endswith("(1, None)]") and 0 < float(peak) <= 3
    assert float(seconds) > 0


@pytest.mark.slow
def test_the_gradio_client_snippet_runs_as_written(folder, monkeypatch):
    from .app_server import served

    code = _snippet("## App API")
    assert "download_files=False" in code
    monkeypatch.chdir(folder)
    printed: list[str] = []
    names = {"print": lambda *a, **k: printed.append(" ".join(map(str, a)))}
    with served() as url:
        # The one change: the test server's address for the README's default one.
        code = code.replace('"http://127.0.0.1:7860/"', repr(url))
        exec(compile(code, "README.md", "exec"), names)
    assert printed[0].startswith("Estimated time: about ")
    assert printed[-1].startswith("**Done** · 20 steps") and printed[-1].split(" -> ")[1].startswith(url)
    # Nothing was downloaded: the result is the server's file, by URL.
    assert isinstance(names["png"], dict) and names["png"]["url"].startswith(url)
