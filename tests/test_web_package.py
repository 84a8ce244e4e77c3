"""The web app's package (nst_web) and its entry point (app.py): nst's public API only, no
torch, and nothing done at import."""

from __future__ import annotations

import ast
import json
import os
import subprocess
import sys

import pytest

from .support.paths import ROOT

SOURCES = [ROOT / "app.py", *sorted((ROOT / "nst_web").glob("*.py"))]


def _problems(text: str, name: str, public: set[str]) -> list[str]:
    """``import torch`` anywhere, and every nst name that is not in ``nst.__all__``: ``from nst.x
    import``, ``import nst.x``, ``from nst import private`` and ``nst.private`` (module alias included)."""
    tree = ast.parse(text, name)
    aliases = {"nst"}  # names bound to the nst package
    found = []
    for node in ast.walk(tree):
        where = f"{name}:{getattr(node, 'lineno', '?')}"
        if isinstance(node, ast.Import):
            for a in node.names:
                if a.name == "torch" or a.name.startswith("torch."):
                    found.append(f"{where}: import {a.name}")
                if a.name.startswith("nst."):
                    found.append(f"{where}: import {a.name} (a module of nst, not its public API)")
                if a.name == "nst" and a.asname:
                    aliases.add(a.asname)
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            if node.module == "torch" or node.module.startswith("torch."):
                found.append(f"{where}: from {node.module} import")
            if node.module.startswith("nst."):
                found.append(f"{where}: from {node.module} import (a module of nst, not its public API)")
            if node.module == "nst":
                found += [
                    f"{where}: from nst import {a.name} (not in nst.__all__)"
                    for a in node.names
                    if a.name not in public
                ]
    for node in ast.walk(tree):
        if (
            isinstance(node, ast.Attribute)
            and isinstance(node.value, ast.Name)
            and node.value.id in aliases
            and node.attr not in public
        ):
            found.append(f"{name}:{node.lineno}: {node.value.id}.{node.attr} (not in nst.__all__)")
    return found


def test_the_app_uses_nsts_public_api_only_and_no_torch():
    import nst

    assert len(SOURCES) > 10
    problems = [
        p for path in SOURCES for p in _problems(path.read_text(), str(path.relative_to(ROOT)), set(nst.__all__))
    ]
    assert not problems, "\n".join(problems)


@pytest.mark.parametrize(
    "bad",
    [
        "import torch",
        "from torch import nn",
        "import nst.schedule",
        "from nst.schedule import format_seconds",
        "from nst import schedule",
        "import nst\nnst.schedule.format_seconds(1)",
        "import nst as n\nn.device.max_size",
    ],
)
def test_the_walk_finds_each_kind_of_private_use(bad):
    import nst

    assert _problems(bad + "\n", "probe.py", set(nst.__all__)), bad
    assert not _problems("import nst\nnst.prepare\nfrom nst import format_seconds\n", "fine.py", set(nst.__all__))


def test_importing_the_package_does_nothing(tmp_path):
    """``import nst_web`` imports neither torch nor Gradio; importing every module of it
    claims no folder, loads no weights, builds no page, sets no environment variable, and
    changes no Pillow limit (the modules import nst, which imports torch)."""
    script = """
import json, os, sys, tempfile
before_env, before_tmp = dict(os.environ), set(os.listdir(tempfile.gettempdir()))
import nst_web
light = {"torch": "torch" in sys.modules, "gradio": "gradio" in sys.modules}
import importlib, pkgutil
from PIL import Image
pixels = Image.MAX_IMAGE_PIXELS
for m in pkgutil.iter_modules(nst_web.__path__):
    importlib.import_module("nst_web." + m.name)
import gradio as gr
import nst_web.server as server, nst_web.folder as folder
print("RESULT " + json.dumps({
    **light,
    "env": sorted(k for k in set(os.environ) | set(before_env) if os.environ.get(k) != before_env.get(k)),
    "tmp": sorted(set(os.listdir(tempfile.gettempdir())) - before_tmp),
    "pixels": Image.MAX_IMAGE_PIXELS == pixels, "workdir": folder.claimed() is None, "demo": server._demo is None,
    "pages": sum(isinstance(o, gr.Blocks) for m in list(sys.modules.values()) if m and m.__name__.startswith("nst_web")
                 for o in vars(m).values()),
}))
"""
    env = {k: v for k, v in os.environ.items() if k != "GRADIO_TEMP_DIR"}
    env["TMPDIR"] = str(tmp_path)  # its own temporary folder: what appears there is its
    proc = subprocess.run(
        [sys.executable, "-c", script], cwd=ROOT, env=env, capture_output=True, text=True, timeout=300
    )
    line = next((x for x in proc.stdout.splitlines() if x.startswith("RESULT ")), None)
    assert line, proc.stdout[-2000:] + proc.stderr[-2000:]
    r = json.loads(line[len("RESULT ") :])
    assert r == {
        "torch": False,
        "gradio": False,
        "env": [],
        "tmp": [],
        "pixels": True,
        "workdir": True,
        "demo": True,
        "pages": 0,
    }, r
    assert "loading the weights" not in proc.stdout  # the weights load in nst_web.start()


def test_the_gradio_version_is_checked(recwarn):
    from nst_web import gradio_patches

    assert gradio_patches.check_version(gradio_patches.GRADIO_VERSION)
    requirements = (ROOT / "requirements.txt").read_text()
    assert f"gradio=={gradio_patches.GRADIO_VERSION}" in requirements.replace(" ", "")
    with pytest.warns(RuntimeWarning, match=r"checked against Gradio 6\.31\.0, and this is Gradio 0\.0\.1"):
        assert not gradio_patches.check_version("0.0.1")
