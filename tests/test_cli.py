import json
import os
import subprocess
import sys
import time
from pathlib import Path

import pytest
from PIL import Image

from nst.cli import main

from .support.paths import ROOT, fitted


def test_cli_writes_the_result_and_intermediates(tmp_path, content_path, style_path, capsys):
    out = tmp_path / "out.png"
    code = main(
        [
            str(content_path),
            str(style_path),
            "-o",
            str(out),
            "--steps",
            "4",
            "--size",
            "64",
            "--save-every",
            "2",
            "--style-layers",
            "relu1_1",
            "relu3_1",
        ]
    )
    assert code == 0
    img = Image.open(out)
    assert img.size == fitted(64)
    assert (tmp_path / "out_0002.png").is_file()
    assert not (tmp_path / "out_0004.png").exists()  # the final step is the output itself
    assert "saved" in capsys.readouterr().err


@pytest.mark.parametrize(
    "args, message",
    [
        (["missing.jpg", "{style}"], "content image 'missing.jpg' does not exist"),
        (["{content}", "{style}", "--style-layers", "relu1_1", "relu6_1"], "unknown VGG19 layer 'relu6_1'"),
        (["{content}", "{style}", "--content-layer", "fc7"], "unknown VGG19 layer 'fc7'"),
        (["{content}", "{style}", "--steps", "0"], "steps must be between"),
        (["{content}", "{style}", "--style-weight", "nan"], "finite"),
        (["{content}", "{style}", "-o", "{tmp}/out.jpg"], "must be a .png"),
        (["{content}", "{style}", "--weights", "{tmp}/nothing.pth"], "does not exist"),
    ],
)
def test_cli_errors_are_one_line_with_exit_code_2(tmp_path, content_path, style_path, args, message, capsys):
    argv = [a.format(content=content_path, style=style_path, tmp=tmp_path) for a in args]
    # Quick defaults first; the case's own options come later and win.
    quick = ["--size", "64", "--steps", "1", "-o", str(tmp_path / "o.png")]
    code, err = _exit_and_stderr([*quick, *argv], capsys)
    assert code == 2, err
    assert message in err
    assert len(err.strip().splitlines()) == 1 and err.startswith("nst: error: ")


def _exit_and_stderr(argv: list[str], capsys) -> tuple[int, str]:
    """``main(argv)`` in-process, ended as ``python -m nst`` ends (an exception would fail the
    test with its traceback): the exit code and what went to stderr."""
    try:
        code = main(argv)
    except SystemExit as exc:  # argparse's own refusals
        code = exc.code
    return code, capsys.readouterr().err


def test_an_error_line_from_a_real_process(tmp_path, style_path):
    """One real ``python -m nst`` per kind of exit 2 (nst's refusals; argparse's: below)."""
    proc = subprocess.run(
        [sys.executable, "-m", "nst", "missing.jpg", str(style_path), "--size", "64", "--steps", "1"],
        capture_output=True,
        text=True,
        cwd=tmp_path,
        env={"PYTHONPATH": str(ROOT), "PATH": "/usr/bin:/bin"},
        timeout=120,
    )
    assert proc.returncode == 2 and "Traceback" not in proc.stderr
    assert proc.stderr == "nst: error: the content image 'missing.jpg' does not exist\n"


def test_the_command_ends_without_teardown_yet_flushes_its_output_and_runs_exit_handlers(
    tmp_path, content_path, style_path
):
    """``console`` leaves the interpreter's teardown out (it counts in a time limit): what was
    printed to a pipe still arrives, the exit handlers still run, and the status is the command's."""
    handler, torn = tmp_path / "handler-ran", tmp_path / "torn-down"
    script = (
        "import atexit, pathlib, sys\n"
        f"atexit.register(pathlib.Path({str(handler)!r}).write_text, 'yes')\n"
        # An object the interpreter's teardown would delete (clearing __main__'s globals).
        f"class Torn:\n    def __del__(self): pathlib.Path({str(torn)!r}).write_text('yes')\n"
        "kept = Torn()\n"
        "from nst.cli import console\n"
        f"sys.argv = ['nst', {str(content_path)!r}, {str(style_path)!r}, '--size', '64', '--steps', '2', '--dry-run']\n"
        "console()\n"
        "print('not reached')\n"
    )
    proc = subprocess.run(
        [sys.executable, "-c", script],
        capture_output=True,
        text=True,
        cwd=tmp_path,
        env={"PYTHONPATH": str(ROOT), "PATH": "/usr/bin:/bin"},
        timeout=120,
    )
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.rstrip().splitlines()[-1].startswith("estimated seconds:")  # flushed, though piped
    assert "not reached" not in proc.stdout  # the process ended in console()
    assert handler.read_text() == "yes"
    assert not torn.exists()  # no teardown


def test_ctrl_c_saves_the_image_as_it_was_with_exit_code_1(tmp_path, content_path, style_path):
    """The README's Ctrl-C: SIGINT to a real process stops the run within a layer and saves."""
    import signal

    out = tmp_path / "out.png"
    proc = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "nst",
            str(content_path),
            str(style_path),
            "-o",
            str(out),
            "--size",
            "96",
            "--steps",
            "5000",
            "--save-every",
            "1",
            "--no-multiscale",
        ],
        stderr=subprocess.PIPE,
        text=True,
        cwd=tmp_path,
        env={"PYTHONPATH": str(ROOT), "PATH": "/usr/bin:/bin"},
    )
    try:
        deadline = time.monotonic() + 120
        while not (tmp_path / "out_0002.png").exists():  # a few steps are done
            assert proc.poll() is None and time.monotonic() < deadline, proc.stderr.read()
            time.sleep(0.05)
        proc.send_signal(signal.SIGINT)
        _, err = proc.communicate(timeout=60)
    finally:
        if proc.poll() is None:
            proc.kill()
    assert proc.returncode == 1, err
    last = err.replace("\r", "\n").strip().splitlines()[-1]
    assert last.startswith("interrupted at step ") and last.endswith(f"saved the image as it was to {out}")
    step = int(last.split()[3].rstrip(";"))
    assert 2 <= step < 5000
    with Image.open(out) as img:
        assert img.size == fitted(96)
        assert json.loads(img.info["nst-recipe"])["steps_done"] == step  # the image of that step


def test_cli_unreadable_image(tmp_path, style_path):
    bad = tmp_path / "bad.png"
    bad.write_text("not a png")
    assert main([str(bad), str(style_path), "-o", str(tmp_path / "o.png")]) == 2
    assert not (tmp_path / "o.png").exists()


def test_cli_help_lists_the_api_defaults(capsys, monkeypatch):
    import dataclasses

    import nst
    from nst.cli_args import _NOT_OPTIONS

    monkeypatch.setenv("COLUMNS", "1000")  # one line per option
    with pytest.raises(SystemExit) as exc:
        main(["--help"])
    assert exc.value.code == 0
    lines, flag = {}, None  # each option's text: its line and the help lines under it
    for ln in capsys.readouterr().out.splitlines():
        if ln.startswith("  -"):
            flag = ln.split()[0].rstrip(",")
            lines[flag] = ln.rstrip()
        elif flag and ln.startswith("    "):
            lines[flag] += " " + ln.strip()
        else:
            flag = None
    names = [f.name for f in dataclasses.fields(nst.Settings) if f.name not in _NOT_OPTIONS]
    assert len(names) >= 20
    for name in names:
        value = getattr(nst.DEFAULT, name)
        line = lines[f"--{name.replace('_', '-')}"]
        if value is None:  # chosen at run time (learning_rate: by optimiser, said in its help)
            assert not line.endswith("(default: None)"), line
            continue
        shown = (
            ("on" if value else "off")
            if isinstance(value, bool)
            else (" ".join(map(str, value)) if isinstance(value, tuple) else str(value))
        )
        assert line.endswith(f"(default: {shown})"), (name, line)


# --- Messages as a newcomer reads them -------------------------------------------------


def _run_cli(*args: str, cwd) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "nst", *args],
        capture_output=True,
        text=True,
        cwd=cwd,
        env={"PYTHONPATH": str(ROOT), "PATH": "/usr/bin:/bin"},
        timeout=120,
    )


def test_abbreviated_options_are_refused(tmp_path):
    # argparse would take --step as --steps; a typo must not run with a silently changed meaning.
    proc = _run_cli("a.jpg", "b.jpg", "--step", "5", cwd=tmp_path)
    assert proc.returncode == 2
    assert proc.stderr.splitlines()[-1] == "nst: error: unrecognized arguments: --step 5 (did you mean --steps?)"
    assert "python -m nst: error" not in proc.stderr


def test_argparse_and_nst_errors_share_one_prefix(tmp_path, content_path, style_path, capsys):
    with pytest.raises(SystemExit) as exc:
        main([str(content_path), str(style_path), "--steps", "many"])
    assert exc.value.code == 2
    assert capsys.readouterr().err.splitlines()[-1] == "nst: error: argument --steps: invalid int value: 'many'"
    assert main([str(content_path), str(style_path), "--steps", "0", "-o", str(tmp_path / "o.png")]) == 2
    assert capsys.readouterr().err.startswith("nst: error: steps must be between")


def test_paths_are_named_as_typed(tmp_path, monkeypatch, style_path, capsys):
    monkeypatch.chdir(tmp_path)
    (tmp_path / "sub").mkdir()
    assert main(["sub/x.jpg", str(style_path), "-o", "o.png"]) == 2
    assert capsys.readouterr().err == "nst: error: the content image 'sub/x.jpg' does not exist\n"
    (tmp_path / "sub" / "x.jpg").write_text("not a picture")
    assert main([str(style_path), "sub/x.jpg", "-o", "o.png"]) == 2
    assert capsys.readouterr().err == "nst: error: the style image 'sub/x.jpg' is not an image file nst can read\n"
    assert main([str(style_path), str(style_path), "-o", "sub/out.jpg"]) == 2
    assert capsys.readouterr().err == "nst: error: the output must be a .png file, not 'sub/out.jpg'\n"
    with pytest.raises(SystemExit):
        main([str(style_path), str(style_path), "--recipe", "sub/earlier.png"])
    assert capsys.readouterr().err == "nst: error: recipe file 'sub/earlier.png' does not exist\n"


def test_the_bar_shows_the_terms_the_app_shows(tmp_path, content_path, style_path, capsys):
    # content J_content, style β·J_style and total J, named as in the app's status line.
    import nst

    kw = dict(steps=2, size=64, style_weight=0.01, seed=1)
    assert (
        main(
            [
                str(content_path),
                str(style_path),
                "-o",
                str(tmp_path / "o.png"),
                "--steps",
                "2",
                "--size",
                "64",
                "--style-weight",
                "0.01",
                "--seed",
                "1",
            ]
        )
        == 0
    )
    bar = capsys.readouterr().err.replace("\r", "\n").splitlines()
    last = list(nst.stylize(content_path, style_path, **kw))[-1]
    beta_style = 0.01 * last.losses["style"]
    assert last.losses["style"] > 10 * beta_style  # so the two cannot be mistaken for each other
    shown = f"content={last.losses['content']:.3g}, style={beta_style:.3g}, total={last.losses['total']:.3g}"
    assert any(shown + ", left=" in line for line in bar), bar[-3:]  # then nst's ETA


def test_the_readme_synopsis_is_the_usage(monkeypatch):
    import re

    from nst.cli import build_parser

    readme = (ROOT / "docs" / "cli.md").read_text()  # the synopsis lives there; the README has the main options
    block = re.search(r"## Usage\n\n((?:    .*\n)+)", readme).group(1)
    monkeypatch.setenv("COLUMNS", "100")
    usage = build_parser().format_usage()
    assert block.split() == usage.split()


def test_dry_run_prints_the_plan_and_the_estimate_last(tmp_path, content_path, style_path, capsys):
    out = tmp_path / "out.png"
    assert (
        main([str(content_path), str(style_path), "-o", str(out), "--size", "256", "--steps", "30", "--dry-run"]) == 0
    )
    lines = capsys.readouterr().out.strip().splitlines()
    assert any("scale 1/" in l and "px" in l and "steps" in l for l in lines)
    assert lines[-1].startswith("estimated seconds: ") and int(lines[-1].split(": ")[1]) >= 1
    assert not out.exists()


def _half_mask(path, content):
    """A PNG mask of ``content``'s frame: white on the left half."""
    w, h = Image.open(content).size
    mask = Image.new("L", (w, h), 0)
    mask.paste(255, (0, 0, w // 2, h))
    mask.save(path)
    return path


def test_cli_mask_paints_white_and_keeps_the_photo_under_black(tmp_path):
    import numpy as np

    import nst
    from nst.images import resize_to_long_side

    content, style = ROOT / "examples" / "chelsea.jpg", ROOT / "examples" / "starry_night.jpg"
    mask = _half_mask(tmp_path / "m.png", content)
    out = tmp_path / "out.png"
    assert main([str(content), str(style), "--mask", str(mask), "-o", str(out), "--steps", "6", "--size", "64"]) == 0
    result = np.asarray(Image.open(out).convert("RGB"), float)
    photo = np.asarray(resize_to_long_side(nst.load_image(content), 64), float)
    assert np.array_equal(result[:, 36:], photo[:, 36:])  # black: the photo
    assert np.abs(result[:, :28] - photo[:, :28]).mean() > 5  # white: painted
    assert nst.read_recipe(out)["masks"] == ["m.png"]


@pytest.mark.parametrize(
    "extra, message",
    [
        (["--mask", "{mask}", "{mask}"], "2 masks for 1 style image"),
        (["--mask", "{tmp}/nope.png"], "mask 'nope.png' does not exist"),
        (["--mask", "{style}"], "mask is"),  # a colour painting, and not the photo's shape
    ],
)
def test_cli_bad_masks_are_one_line_with_exit_code_2(tmp_path, extra, message, capsys):
    content, style = ROOT / "examples" / "chelsea.jpg", ROOT / "examples" / "starry_night.jpg"
    mask = _half_mask(tmp_path / "m.png", content)
    argv = [str(content), str(style), *[a.format(mask=mask, tmp=tmp_path, style=style) for a in extra]]
    code, err = _exit_and_stderr([*argv, "--size", "64", "--steps", "1", "-o", str(tmp_path / "o.png")], capsys)
    assert code == 2, err
    assert message in err and err.startswith("nst: error: ")
    assert len(err.strip().splitlines()) == 1


def test_cli_warns_in_one_line_of_an_all_black_mask(tmp_path, capsys):
    content = ROOT / "examples" / "chelsea.jpg"
    styles = [ROOT / "examples" / "starry_night.jpg", ROOT / "examples" / "mosaic.jpg"]
    black = tmp_path / "black.png"
    Image.new("L", Image.open(content).size, 0).save(black)
    mask = _half_mask(tmp_path / "m.png", content)
    code = main(
        [
            str(content),
            *map(str, styles),
            "--mask",
            str(mask),
            str(black),
            "-o",
            str(tmp_path / "o.png"),
            "--steps",
            "1",
            "--size",
            "64",
        ]
    )
    assert code == 0
    assert "nst: warning: the mask 2 is all black" in capsys.readouterr().err


# --- Time limits, recipes and the smaller messages -------------------------------------


def test_options_before_recipe_are_honoured(tmp_path, content_path, style_path):
    earlier = tmp_path / "earlier.png"
    assert main([str(content_path), str(style_path), "-o", str(earlier), "--steps", "1", "--size", "96"]) == 0
    out = tmp_path / "out.png"
    # --size before --recipe: the option given wins over the recipe's 96 px, as one after it does.
    assert main([str(content_path), str(style_path), "--size", "64", "--recipe", str(earlier), "-o", str(out)]) == 0
    assert Image.open(out).size == fitted(64)
    import nst

    assert nst.read_recipe(out)["settings"]["steps"] == 1  # the rest from the recipe


def test_blend_count_is_named_as_the_option_with_the_right_plural(tmp_path, content_path, style_path, capsys):
    assert main([str(content_path), str(style_path), "--style-blend", "1", "2", "-o", str(tmp_path / "o.png")]) == 2
    assert capsys.readouterr().err == (
        "nst: error: --style-blend has 2 weights for 1 style image; give one weight per style image\n"
    )
    assert (
        main(
            [
                str(content_path),
                str(style_path),
                str(style_path),
                "--style-blend",
                "1",
                "-o",
                str(tmp_path / "o.png"),
                "--dry-run",
            ]
        )
        == 2
    )
    assert capsys.readouterr().err == (
        "nst: error: --style-blend has 1 weight for 2 style images; give one weight per style image\n"
    )


def test_a_folder_is_named_as_a_folder(tmp_path, monkeypatch, style_path, capsys):
    monkeypatch.chdir(tmp_path)
    (tmp_path / "examples").mkdir()
    for typed in ("examples/", "examples"):
        assert main([typed, str(style_path), "-o", "o.png"]) == 2
        assert capsys.readouterr().err == "nst: error: the content image 'examples/' is a folder, not an image file\n"


@pytest.mark.parametrize("size", ["8193", "10000"])
def test_one_message_names_the_size_limit(tmp_path, content_path, style_path, capsys, size):
    # The same limit on any device: scales beyond the memory budget run in tiles.
    assert main([str(content_path), str(style_path), "--size", size, "-o", str(tmp_path / "o.png")]) == 2
    assert capsys.readouterr().err == f"nst: error: size must be between 32 and 8192, not {size}\n"


def test_an_existing_output_is_said_to_be_replaced(tmp_path, content_path, style_path, capsys):
    out = tmp_path / "out.png"
    argv = [str(content_path), str(style_path), "-o", str(out), "--steps", "1", "--size", "64"]
    assert main(argv) == 0
    assert capsys.readouterr().err.splitlines()[-1] == f"saved {out} ({fitted(64)[0]}×{fitted(64)[1]}, 1 step)"
    assert main(argv) == 0
    assert capsys.readouterr().err.splitlines()[-1] == f"replaced {out} ({fitted(64)[0]}×{fitted(64)[1]}, 1 step)"


def test_the_bar_draws_the_last_step_once(tmp_path, content_path, style_path, capsys, monkeypatch):
    monkeypatch.setenv("TQDM_MININTERVAL", "0")  # tqdm draws every update
    assert (
        main(
            [
                str(content_path),
                str(style_path),
                "-o",
                str(tmp_path / "o.png"),
                "--steps",
                "3",
                "--size",
                "64",
                "--no-multiscale",
            ]
        )
        == 0
    )
    frames = [f for f in capsys.readouterr().err.replace("\r", "\n").splitlines() if " 3/3 " in f]
    terms = {f.split("content=")[1].split(", left")[0] for f in frames if "content=" in f}
    assert len(terms) == 1, frames  # every drawing of step 3 shows step 3's terms


def _cli_env(tmp_path) -> dict[str, str]:
    import os

    return {
        "PYTHONPATH": str(ROOT),
        "PATH": "/usr/bin:/bin",
        "NST_CACHE_DIR": os.environ["NST_CACHE_DIR"],
        "HOME": str(tmp_path),
    }


def test_a_time_limit_is_the_whole_commands_and_says_what_it_cut(tmp_path, content_path, style_path):
    import time

    limit = 10  # 1000 steps at 128 px take half a minute or more: the limit must cut them
    t = time.perf_counter()
    proc = subprocess.run(
        [
            sys.executable,
            "-m",
            "nst",
            str(content_path),
            str(style_path),
            "--size",
            "128",
            "--steps",
            "1000",
            "--time-limit",
            str(limit),
            "-o",
            "o.png",
        ],
        capture_output=True,
        text=True,
        cwd=tmp_path,
        env=_cli_env(tmp_path),
        timeout=120,
    )
    took = time.perf_counter() - t
    assert proc.returncode == 0, proc.stderr
    lines = proc.stderr.replace("\r", "\n").splitlines()
    said = [line for line in lines if line.startswith(f"nst: time limit {limit} s: kept ")]
    assert said and said[0].split(" kept ")[1].split(" of ")[1].startswith("the plan's 1000 steps"), lines
    assert lines[-1].startswith("saved o.png")
    # The process as a whole, with slack for a loaded machine (bench/estimate.py --limits measures it idle).
    assert took < limit + 10


def test_a_dry_run_with_cached_costs_times_nothing(tmp_path, content_path, style_path, monkeypatch):
    import torch

    from nst import calibration_cache
    from nst import CostModel

    monkeypatch.setenv("NST_CACHE_DIR", str(tmp_path / "cache"))
    cpu = torch.device("cpu")
    # fp32 named: "auto" probes the CPU's bf16 speed, which may choose otherwise under load.
    model = CostModel(step=(0.01, 0.5), scale=(0.05, 0.7), finish=(0.02, 0.3), setup=1.0, measured=True)
    calibration_cache.store(cpu, "fp32", model)
    proc = subprocess.run(
        [
            sys.executable,
            "-m",
            "nst",
            str(content_path),
            str(style_path),
            "--size",
            "512",
            "--dry-run",
            "--device",
            "cpu",
            "--precision",
            "fp32",
        ],
        capture_output=True,
        text=True,
        cwd=tmp_path,
        env=_cli_env(tmp_path),
        timeout=120,
    )
    assert proc.returncode == 0, proc.stderr
    out = proc.stdout.splitlines()
    assert "from this machine's calibration cache" in out[-2]
    assert "0.5 s per megapixel-step + 0.01 s per step" in out[-2]  # the cached model, not a new timing


# --- The CLI protects files, and recipes are data ---------------------------------------------


def _no_work(monkeypatch):
    """Make any run fail loudly: the checks below must refuse before the work starts."""
    import nst.pipeline

    def refuse(*a, **k):
        raise AssertionError("the run started")

    monkeypatch.setattr(nst.pipeline, "prepare", refuse)


def test_the_output_is_never_an_input(tmp_path, content_path, style_path, monkeypatch, capsys):
    import shutil

    _no_work(monkeypatch)
    photo, paint = tmp_path / "photo.png", tmp_path / "paint.png"
    Image.open(content_path).save(photo)
    shutil.copy(style_path, paint)
    before = photo.read_bytes(), paint.read_bytes()
    monkeypatch.chdir(tmp_path)
    for out in ("photo.png", "./paint.png", str(photo)):
        assert main(["photo.png", "paint.png", "-o", out]) == 2
        assert "is one of the inputs" in capsys.readouterr().err
    # --save-every's images (out_0002.png, ...) would replace an input of that name.
    (tmp_path / "out_0002.png").write_bytes(photo.read_bytes())
    assert main(["out_0002.png", "paint.png", "-o", "out.png", "--save-every", "1"]) == 2
    err = capsys.readouterr().err
    assert "--save-every would write over the input 'out_0002.png'" in err and len(err.splitlines()) == 1
    assert (photo.read_bytes(), paint.read_bytes()) == before


@pytest.mark.parametrize(
    "target, message",
    [
        ("missing/o.png", "does not exist"),
        ("folder.png", "is a folder"),
        ("full.png", "is not a regular file"),
    ],
)
def test_an_unwritable_output_is_refused_before_the_run(
    tmp_path, content_path, style_path, monkeypatch, capsys, target, message
):
    _no_work(monkeypatch)
    (tmp_path / "folder.png").mkdir()
    (tmp_path / "full.png").symlink_to("/dev/full")
    assert main([str(content_path), str(style_path), "-o", str(tmp_path / target)]) == 2
    err = capsys.readouterr().err
    assert message in err and len(err.splitlines()) == 1


def test_overwriting_an_earlier_result_is_allowed(tmp_path, content_path, style_path):
    out = tmp_path / "out.png"
    out.write_bytes(b"an earlier result")
    assert main([str(content_path), str(style_path), "-o", str(out), "--steps", "1", "--size", "64"]) == 0
    assert Image.open(out).size == fitted(64)


def _protected_inputs(tmp_path, content_path, style_path) -> dict[str, Path]:
    """photo.png, styles/paint.png, keep.png and earlier.png (a result with its recipe) in
    ``tmp_path``, for the checks below to protect."""
    import shutil

    import nst

    (tmp_path / "styles").mkdir()
    files = {
        "photo": tmp_path / "photo.png",
        "paint": tmp_path / "styles" / "paint.png",
        "keep": tmp_path / "keep.png",
        "earlier": tmp_path / "earlier.png",
    }
    Image.open(content_path).save(files["photo"])
    shutil.copy(style_path, files["paint"])
    _half_mask(files["keep"], content_path)
    nst.save_png(
        Image.open(content_path).convert("RGB"),
        files["earlier"],
        {"nst": nst.__version__, "settings": {"steps": 1, "size": 64}},
    )
    return files


# Each case: what it puts in the folder, the command's arguments after the photo and the
# painting, and the one line that refuses it.
_UNSAFE_OUTPUTS = {
    "the keep mask": (
        lambda d: None,
        ["--keep", "keep.png", "-o", "keep.png"],
        "the output 'keep.png' is one of the inputs (the keep mask 'keep.png'); choose another name",
    ),
    "a hard link to the photo": (
        lambda d: os.link(d / "photo.png", d / "result.png"),
        ["-o", "result.png"],
        "the output 'result.png' is one of the inputs (the content image 'photo.png'); choose another name",
    ),
    "a link to the recipe": (
        lambda d: (d / "again.png").symlink_to("earlier.png"),
        ["--recipe", "earlier.png", "-o", "again.png"],
        "the output 'again.png' is one of the inputs (the recipe 'earlier.png'); choose another name",
    ),
    "a snapshot name linked to a style": (
        lambda d: (d / "out_0002.png").symlink_to(d / "styles" / "paint.png"),
        ["-o", "out.png", "--save-every", "2"],
        "--save-every would write over the input 'styles/paint.png' at 'out_0002.png' (its images are named "
        "out_<step>.png); choose another output name",
    ),
    "a dangling link": (
        lambda d: (d / "o.png").symlink_to("victim.png"),
        ["-o", "o.png"],
        "the output 'o.png' is a link to 'victim.png', which does not exist: writing would create that file; "
        "name the file itself",
    ),
    "a dangling snapshot link": (
        lambda d: (d / "out_0004.png").symlink_to("victim.png"),
        ["-o", "out.png", "--save-every", "2"],
        "--save-every's image 'out_0004.png' is a link to 'victim.png', which does not exist",
    ),
    "a folder": (lambda d: (d / "d.png").mkdir(), ["-o", "d.png"], "the output 'd.png' is a folder"),
    "a link to a folder": (
        lambda d: (d / "l.png").symlink_to(d / "styles"),
        ["-o", "l.png"],
        "the output 'l.png' is a folder",
    ),
    "a FIFO": (
        lambda d: os.mkfifo(d / "p.png"),
        ["-o", "p.png"],
        "the output 'p.png' is not a regular file (a device or a pipe)",
    ),
    "a snapshot name that is a FIFO": (
        lambda d: os.mkfifo(d / "out_0003.png"),
        ["-o", "out.png", "--save-every", "1"],
        "--save-every's image 'out_0003.png' is not a regular file (a device or a pipe)",
    ),
}


@pytest.mark.parametrize("dry_run", [False, True], ids=["run", "dry run"])
@pytest.mark.parametrize("case", list(_UNSAFE_OUTPUTS))
def test_no_output_or_snapshot_replaces_an_input_or_is_not_a_file(
    tmp_path, content_path, style_path, monkeypatch, capsys, case, dry_run
):
    """One check before any work: refused by the same line in a run and in a dry run, and
    every input left as it was (and nothing made where a dangling link points)."""
    make, extra, message = _UNSAFE_OUTPUTS[case]
    files = _protected_inputs(tmp_path, content_path, style_path)
    make(tmp_path)
    before = {name: path.read_bytes() for name, path in files.items()}
    _no_work(monkeypatch)
    monkeypatch.chdir(tmp_path)
    code, err = _exit_and_stderr(
        ["photo.png", "styles/paint.png", *extra, "--size", "64", "--steps", "4", *(["--dry-run"] if dry_run else [])],
        capsys,
    )
    assert code == 2, err
    assert err.startswith(f"nst: error: {message}") and len(err.splitlines()) == 1, err
    assert {name: path.read_bytes() for name, path in files.items()} == before
    assert not (tmp_path / "victim.png").exists()


def _recipe_png(path, recipe: dict | str, size=(4, 4)) -> str:
    import json

    from PIL import PngImagePlugin

    from nst.recipe import RECIPE_KEY

    info = PngImagePlugin.PngInfo()
    info.add_text(RECIPE_KEY, recipe if isinstance(recipe, str) else json.dumps(recipe))
    Image.new("RGB", size).save(path, pnginfo=info)
    return str(path)


@pytest.mark.parametrize("weights", ["hf:someone/repo/file@main", "torchvision", "/tmp/some-weights.pth"])
def test_a_recipe_never_chooses_the_weights(tmp_path, content_path, style_path, monkeypatch, capsys, weights):
    """The recipe's weights are named in one line and not used: no network, no file opened."""
    import socket

    import nst

    def no_network(*a, **k):
        raise AssertionError("a network request")

    monkeypatch.setattr(socket.socket, "connect", no_network)
    monkeypatch.setattr(socket, "create_connection", no_network)
    recipe = _recipe_png(
        tmp_path / "r.png",
        {
            "nst": nst.__version__,
            "settings": {"steps": 1, "size": 64, "weights": weights, "device": "cuda"},
            "masks": ["sky.png"],
        },
    )
    out = tmp_path / "o.png"
    assert main([str(content_path), str(style_path), "--recipe", recipe, "-o", str(out)]) == 0
    notes = [line for line in capsys.readouterr().err.splitlines() if line.startswith("nst: note:")]
    assert notes == [
        f"nst: note: the recipe ran on weights {weights}; using the embedded weights; pass --weights {weights} "
        "to use them",
        "nst: note: the recipe ran on device cuda; using auto; pass --device cuda to use it",
        "nst: note: the recipe's run had masks (sky.png); this run has none: pass --mask with them to paint each "
        "style where it was",
    ]
    assert nst.read_recipe(out)["not_applied"]["weights"] == nst.DEFAULT.weights  # what this run used


@pytest.mark.parametrize(
    "text, message",
    [
        ("[" * 3000 + "]" * 3000, "damaged"),
        ('{"settings": ' * 3000 + "{}" + "}" * 3000, "damaged"),
        ('{"settings": {"steps": ' + "[" * 3000 + "]" * 3000 + "}}", "damaged"),
        ('{"settings": {"style_layers": ' + "[" * 50 + "]" * 50 + "}}", "the recipe in 'r.png'"),
        ('{"settings": {"init": "' + "x" * (2 * 2**20) + '"}}', "is over 64 KiB"),
    ],
)
def test_hostile_recipes_are_one_line_with_exit_code_2(
    tmp_path, content_path, style_path, text, message, capsys, monkeypatch
):
    recipe = _recipe_png(tmp_path / "r.png", text)
    monkeypatch.chdir(tmp_path)
    code, err = _exit_and_stderr(
        [str(content_path), str(style_path), "--recipe", recipe, "-o", str(tmp_path / "o.png")], capsys
    )
    assert code == 2, err[-2000:]
    assert message in err and "Traceback" not in err
    assert len(err.strip().splitlines()) == 1 and len(err) < 500


def test_echoed_values_are_cut(tmp_path, content_path, style_path, capsys):
    # argparse's refusal (a number of 100 000 digits), then nst's (a megabyte of text).
    with pytest.raises(SystemExit):
        main([str(content_path), str(style_path), "--seed", "1" * 100_000, "-o", str(tmp_path / "o.png")])
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err[-1]) < 500 and "…" in err[-1] and err[-1].startswith("nst: error: argument --seed")
    assert main([str(content_path), str(style_path), "--style-blend", "1", "-o", "x" * 2**20 + ".png"]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and len(err[0]) < 500 and "…" in err[0]


def test_weights_that_are_a_folder_are_named_so(tmp_path, content_path, style_path, capsys):
    assert main([str(content_path), str(style_path), "--weights", str(tmp_path), "-o", str(tmp_path / "o.png")]) == 2
    assert (
        capsys.readouterr().err.strip()
        == f"nst: error: weights file {tmp_path} is a folder; name the weights file in it"
    )


def test_out_of_memory_before_the_run_does_not_advise_a_smaller_size(
    tmp_path, content_path, style_path, monkeypatch, capsys
):
    import nst.pipeline

    def loading(*a, **k):
        raise RuntimeError("DefaultCPUAllocator: can't allocate memory: you tried to allocate 548000000 bytes")

    monkeypatch.setattr(nst.pipeline, "prepare", loading)  # fails as loading the images would, before a step
    assert main([str(content_path), str(style_path), "-o", str(tmp_path / "o.png")]) == 2
    err = capsys.readouterr().err.strip()
    assert err.startswith("nst: error: out of memory before the run started") and "lower size" not in err


def test_cli_keep_mask_keeps_its_white_closer_to_the_photo(tmp_path):
    import numpy as np

    import nst
    from nst.images import resize_to_long_side

    content, style = ROOT / "examples" / "chelsea.jpg", ROOT / "examples" / "starry_night.jpg"
    keep = _half_mask(tmp_path / "k.png", content)  # white on the left half
    kept, plain = tmp_path / "kept.png", tmp_path / "plain.png"
    common = ["--steps", "6", "--size", "64", "--no-keep-faces"]
    assert main([str(content), str(style), "--keep", str(keep), "-o", str(kept), *common]) == 0
    assert main([str(content), str(style), "-o", str(plain), *common]) == 0
    photo = np.asarray(resize_to_long_side(nst.load_image(content), 64), float)
    left = lambda p: np.abs(np.asarray(Image.open(p).convert("RGB"), float)[:, :24] - photo[:, :24]).mean()  # noqa: E731
    assert left(kept) < 0.9 * left(plain)
    recipe = nst.read_recipe(kept)
    assert recipe["keep"] == "k.png" and recipe["settings"]["keep_faces"] is False


@pytest.mark.parametrize(
    "make, message",
    [
        (lambda size: Image.new("RGB", size, (0, 200, 0)), "the keep mask is a colour image"),
        (lambda size: Image.new("L", size, 0), "the keep mask is all black"),
        (lambda size: Image.new("L", (size[0], size[0]), 255), "the keep mask is"),
    ],
)
def test_cli_bad_keep_masks_are_one_line_with_exit_code_2(tmp_path, make, message, capsys, monkeypatch):
    content, style = ROOT / "examples" / "chelsea.jpg", ROOT / "examples" / "starry_night.jpg"
    make(Image.open(content).size).save(tmp_path / "k.png")
    monkeypatch.chdir(tmp_path)
    code, err = _exit_and_stderr(
        [str(content), str(style), "--keep", "k.png", "--size", "64", "--steps", "1", "-o", str(tmp_path / "o.png")],
        capsys,
    )
    assert code == 2, err
    assert message in err and "Traceback" not in err
    assert len(err.strip().splitlines()) == 1


def test_dry_run_at_8192_px_shows_the_tiles_memory_and_estimate(
    tmp_path, content_path, style_path, capsys, monkeypatch
):
    import nst.pipeline
    import nst.memory
    from nst import CostModel

    monkeypatch.setattr(nst.memory, "_available_bytes", lambda: 64e9)  # a machine that holds 8192 px
    monkeypatch.setattr(
        nst.pipeline, "calibrate", lambda device, precision: CostModel(step=(0.01, 0.3), scale=(0.05, 0.3))
    )
    out = tmp_path / "out.png"
    assert main([str(content_path), str(style_path), "-o", str(out), "--size", "8192", "--dry-run"]) == 0
    lines = capsys.readouterr().out.strip().splitlines()
    assert lines[0].startswith("plan: 200 steps to 8192×")
    scales = [l for l in lines if l.startswith("  scale ")]
    assert "whole" in scales[0] and "tiles of" in scales[-1] and "GB" in scales[-1]  # coarse whole, finest tiled
    assert any(l.startswith("memory: ") and "GB at most for the run" in l for l in lines)
    assert (
        lines[-1].startswith("estimated seconds: ") and int(lines[-1].split(": ")[1]) > 300
    )  # hundreds of seconds even at this fast rate
    assert not out.exists()


# --- A newcomer's orders of words: --mask before the paths, the output as a third path ---------


@pytest.mark.parametrize(
    "argv, content, styles, masks",
    [
        # --mask M takes every word after it; the paths are those past as many masks as styles.
        (["--mask", "m.png", "photo.jpg", "painting.jpg"], "photo.jpg", ["painting.jpg"], ["m.png"]),
        (
            ["--mask", "a.png", "b.png", "photo.jpg", "p1.jpg", "p2.jpg", "--size", "64"],
            "photo.jpg",
            ["p1.jpg", "p2.jpg"],
            ["a.png", "b.png"],
        ),
        (["photo.jpg", "--mask", "m.png", "painting.jpg"], "photo.jpg", ["painting.jpg"], ["m.png"]),
        (
            ["--mask", "a.png", "--mask", "b.png", "photo.jpg", "p1.jpg", "p2.jpg"],
            "photo.jpg",
            ["p1.jpg", "p2.jpg"],
            ["a.png", "b.png"],
        ),
        # The forms of docs/cli.md, as before.
        (["photo.jpg", "painting.jpg", "--mask", "m.png", "-o", "o.png"], "photo.jpg", ["painting.jpg"], ["m.png"]),
        (
            ["photo.jpg", "p1.jpg", "p2.jpg", "--mask", "a.png", "b.png"],
            "photo.jpg",
            ["p1.jpg", "p2.jpg"],
            ["a.png", "b.png"],
        ),
        (["--mask=m.png", "photo.jpg", "painting.jpg"], "photo.jpg", ["painting.jpg"], ["m.png"]),
        (["photo.jpg", "painting.jpg", "--mask", "a.png", "b.png"], "photo.jpg", ["painting.jpg"], ["a.png", "b.png"]),
    ],
)
def test_mask_before_the_paths_leaves_them_to_the_paths(argv, content, styles, masks):
    from nst.cli import build_parser

    args = build_parser().parse_args(argv)
    assert (args.content, args.style, args.masks) == (content, styles, masks)


def test_a_mask_that_swallowed_the_paths_says_how_to_write_it(capsys):
    # Two masks for one style, or one for two: no reading fits, so the line says what happened.
    code, err = _exit_and_stderr(["--mask", "a.png", "b.png", "photo.jpg", "painting.jpg"], capsys)
    assert code == 2
    assert (
        "nst: error: --mask took every path after it ('a.png', 'b.png', 'photo.jpg', 'painting.jpg'), so none "
        "was left for the content and style images; write the images first: python -m nst CONTENT STYLE"
    ) in err
    assert "the following arguments are required" not in err
    # Other refusals are argparse's own, not the paths'.
    code, err = _exit_and_stderr(["--mask", "m.png", "photo.jpg", "painting.jpg", "--size", "big"], capsys)
    assert code == 2 and "argument --size: invalid int value: 'big'" in err and "--mask took" not in err


def test_mask_before_the_paths_paints(tmp_path, monkeypatch):
    import nst

    monkeypatch.chdir(tmp_path)
    content, style = ROOT / "examples" / "chelsea.jpg", ROOT / "examples" / "starry_night.jpg"
    _half_mask(tmp_path / "m.png", content)
    assert main(["--mask", "m.png", str(content), str(style), "-o", "o.png", "--steps", "2", "--size", "64"]) == 0
    assert nst.read_recipe(tmp_path / "o.png")["masks"] == ["m.png"]


def test_a_third_path_that_is_no_file_points_to_o(tmp_path, content_path, style_path, monkeypatch, capsys):
    _no_work(monkeypatch)
    monkeypatch.chdir(tmp_path)
    code, err = _exit_and_stderr([str(content_path), str(style_path), "out.png"], capsys)
    assert code == 2 and len(err.splitlines()) == 1
    assert err == (
        "nst: error: 'out.png' is not a file: every path after the content image is a style image "
        "(several are blended); to write the result there, use -o out.png in its place\n"
    )
    # An earlier result there, with the default output: the same hint, not only "one of the inputs".
    Image.open(style_path).save(tmp_path / "out.png")
    code, err = _exit_and_stderr([str(content_path), str(style_path), "out.png"], capsys)
    assert code == 2 and "'out.png' is both the output and a style image" in err and "use -o out.png" in err


def test_a_third_image_is_a_style_to_blend(tmp_path, content_path, style_path, other_style_path, capsys):
    out = tmp_path / "blend.png"
    assert (
        main(
            [str(content_path), str(style_path), str(other_style_path), "-o", str(out), "--steps", "1", "--size", "64"]
        )
        == 0
    )
    assert "saved" in capsys.readouterr().err and out.is_file()
    # A mistyped painting's name is not an output: loading it says it does not exist.
    code, err = _exit_and_stderr([str(content_path), str(style_path), "paintng.jpg", "-o", str(out)], capsys)
    assert code == 2 and err == "nst: error: the style image 2 'paintng.jpg' does not exist\n"
