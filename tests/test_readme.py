"""The documentation's tested snippets run as written, on the files in examples/.

Each is read from its file and heading (``_snippet``): today the README's Python API and App
API snippets. A tested snippet moved to a page under docs/ is read from there.
"""

import os
import re
import shutil
import subprocess
import sys

import pytest

from .support.paths import EXAMPLES, ROOT

README = ROOT / "README.md"


def _snippet(heading: str, path=README) -> str:
    """The first ```python block in the section under ``heading`` (a whole heading line) in ``path``:
    up to the next heading of the same level or higher (lines in code blocks are not headings)."""
    lines = path.read_text().splitlines()
    assert heading in lines, f"no heading {heading!r} in {path.name}"
    level = len(heading) - len(heading.lstrip("#"))
    section, fenced = [], False
    for line in lines[lines.index(heading) + 1 :]:
        if line.startswith("```"):
            fenced = not fenced
        elif not fenced and re.match(rf"#{{1,{level}}} ", line):
            break
        section.append(line)
    block = re.search(r"```python\n(.*?)```", "\n".join(section) + "\n", re.S)
    assert block, f"no python snippet under {heading!r} in {path.name}"
    return block.group(1)


def test_the_tested_snippets_are_where_the_tests_read_them():
    # Each section still has its snippet (not the next section's), and the README stays short.
    assert "nst.stylize_image" in _snippet("## Python API") and "gradio_client" in _snippet("## App API")
    assert len(README.read_text().splitlines()) <= 300


@pytest.fixture
def folder(tmp_path):
    """A folder with examples/ in it, as the repository's folder is: the snippets' files are there."""
    shutil.copytree(EXAMPLES, tmp_path / "examples")
    return tmp_path


def _commands(path) -> list[list[str]]:
    """The ``python -m nst …`` command lines of ``path``'s indented blocks, in order, as words
    after ``-m nst`` (a trailing ``# comment`` dropped); not the synopsis (``CONTENT STYLE``)."""
    import shlex

    lines = [line.strip() for line in path.read_text().splitlines() if line.startswith("    python -m nst ")]
    return [shlex.split(line, comments=True)[3:] for line in lines if "CONTENT" not in line]


@pytest.mark.slow
def test_the_command_lines_run_as_written_at_a_small_size(folder, monkeypatch, capsys):
    """Every command of the README's quick start and command line, then of docs/cli.md, in
    order (a --recipe reads the out.png an earlier one wrote), on the files in examples/:
    at 64 px and 2 steps (options given last win)."""
    from nst.cli import main

    commands = [*_commands(README), *_commands(ROOT / "docs" / "cli.md")]
    assert len(commands) >= 12 and any("--mask" in c for c in commands) and any("--keep" in c for c in commands)
    monkeypatch.chdir(folder)
    for argv in commands:
        # Real files only: every image read is one of examples/ (the rest are outputs).
        inputs = [
            w for i, w in enumerate(argv) if w.endswith((".jpg", ".png")) and argv[i - 1] not in ("-o", "--recipe")
        ]
        assert all(w.startswith("examples/") for w in inputs), argv
        code = main([*argv, "--size", "64", "--steps", "2"])
        assert code == 0, (argv, capsys.readouterr().err[-1000:])
    for name in ("out.png", "mix.png", "big.png", "bg.png", "two.png", "keep.png", "face.png", "print.png"):
        assert (folder / name).is_file(), name


@pytest.mark.slow
def test_the_python_api_snippet_runs_as_written(folder):
    code = _snippet("## Python API")
    assert "examples/chelsea.jpg" in code and "photo.jpg" not in code
    proc = subprocess.run(
        [sys.executable, "-c", code],
        capture_output=True,
        text=True,
        cwd=folder,
        timeout=600,
        env={**os.environ, "PYTHONPATH": str(ROOT)},
    )
    assert proc.returncode == 0, proc.stderr[-2000:]
    out = proc.stdout.splitlines()
    # The event, set once 5 steps are done, ends the default run there: on a loaded machine too.
    assert re.search(r"^stopped at step 5$", proc.stdout, re.M), proc.stdout[-500:]
    assert (folder / "out.png").is_file() and sorted(p.name for p in folder.glob("step_*.png")) == [
        "step_0010.png",
        "step_0020.png",
        "step_0030.png",
    ]
    plan = next(line for line in out if line.startswith("[(("))
    assert float(plan.rsplit(" ", 1)[1]) > 0  # the plan, then its estimate
    # The print-size plan: coarse scales whole, the finest in tiles, then its peak GB and estimate.
    tiles, peak, seconds = out[-1].rsplit(" ", 2)
    assert tiles.startswith("[(1, None)") and not tiles.endswith("(1, None)]") and 0 < float(peak) <= 3
    assert float(seconds) > 0


@pytest.mark.slow
def test_the_gradio_client_snippet_runs_as_written(folder, monkeypatch):
    from .support.app_server import served

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
    # Only status lines: the outputs that did not change ({'__type__': 'update'}) are not printed.
    assert not any("__type__" in line for line in printed), [l for l in printed if "__type__" in l][:3]
    assert len(printed) >= 3  # the estimate, the statuses as they stream, the result's line
    # The comment promises no time: the estimate is the server's, for its machine.
    assert not re.search(r"about \d", code)
    assert printed[-1].startswith("**Done** · 20 steps") and printed[-1].split(" -> ")[1].startswith(url)
    # Nothing was downloaded: the result is the server's file, by URL.
    assert isinstance(names["png"], dict) and names["png"]["url"].startswith(url)
