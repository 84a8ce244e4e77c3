import subprocess
import sys

import pytest
from PIL import Image

from nst.cli import main

from .conftest import ROOT, fitted


def test_cli_writes_the_result_and_intermediates(tmp_path, content_path, style_path, capsys):
    out = tmp_path / "out.png"
    code = main([str(content_path), str(style_path), "-o", str(out), "--steps", "4", "--size", "64",
                 "--save-every", "2", "--style-layers", "relu1_1", "relu3_1"])
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
def test_cli_errors_are_one_line_with_exit_code_2(tmp_path, content_path, style_path, args, message):
    argv = [a.format(content=content_path, style=style_path, tmp=tmp_path) for a in args]
    # Quick defaults first; the case's own options come later and win.
    quick = ["--size", "64", "--steps", "1", "-o", str(tmp_path / "o.png")]
    proc = subprocess.run(
        [sys.executable, "-m", "nst", *quick, *argv],
        capture_output=True, text=True, cwd=tmp_path, env={"PYTHONPATH": str(ROOT), "PATH": "/usr/bin:/bin"},
        timeout=120,
    )
    assert proc.returncode == 2, proc.stderr
    assert message in proc.stderr
    assert "Traceback" not in proc.stderr
    assert len(proc.stderr.strip().splitlines()) == 1


def test_cli_unreadable_image(tmp_path, style_path):
    bad = tmp_path / "bad.png"
    bad.write_text("not a png")
    assert main([str(bad), str(style_path), "-o", str(tmp_path / "o.png")]) == 2
    assert not (tmp_path / "o.png").exists()


def test_cli_help_lists_the_api_defaults(capsys):
    with pytest.raises(SystemExit) as exc:
        main(["--help"])
    assert exc.value.code == 0
    text = capsys.readouterr().out
    assert "relu4_2" in text and "--style-weight" in text and "--save-every" in text


# --- Messages as a newcomer reads them -------------------------------------------------


def _run_cli(*args: str, cwd) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "nst", *args], capture_output=True, text=True, cwd=cwd,
                          env={"PYTHONPATH": str(ROOT), "PATH": "/usr/bin:/bin"}, timeout=120)


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
    assert main([str(content_path), str(style_path), "-o", str(tmp_path / "o.png"), "--steps", "2", "--size", "64",
                 "--style-weight", "0.01", "--seed", "1"]) == 0
    bar = capsys.readouterr().err.replace("\r", "\n").splitlines()
    last = list(nst.stylize(content_path, style_path, **kw))[-1]
    beta_style = 0.01 * last.losses["style"]
    assert last.losses["style"] > 10 * beta_style  # so the two cannot be mistaken for each other
    shown = f"content={last.losses['content']:.3g}, style={beta_style:.3g}, total={last.losses['total']:.3g}"
    assert any(shown + ", left=" in line for line in bar), bar[-3:]  # then nst's ETA


def test_the_readme_synopsis_is_the_usage(monkeypatch):
    import re

    from nst.cli import build_parser

    readme = (ROOT / "README.md").read_text()
    block = re.search(r"## Command line\n\n((?:    .*\n)+)", readme).group(1)
    monkeypatch.setenv("COLUMNS", "100")
    usage = build_parser().format_usage()
    assert block.split() == usage.split()


def test_dry_run_prints_the_plan_and_the_estimate_last(tmp_path, content_path, style_path, capsys):
    out = tmp_path / "out.png"
    assert main([str(content_path), str(style_path), "-o", str(out), "--size", "256", "--steps", "30",
                 "--dry-run"]) == 0
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
def test_cli_bad_masks_are_one_line_with_exit_code_2(tmp_path, extra, message):
    content, style = ROOT / "examples" / "chelsea.jpg", ROOT / "examples" / "starry_night.jpg"
    mask = _half_mask(tmp_path / "m.png", content)
    argv = [str(content), str(style), *[a.format(mask=mask, tmp=tmp_path, style=style) for a in extra]]
    proc = subprocess.run(
        [sys.executable, "-m", "nst", *argv, "--size", "64", "--steps", "1", "-o", str(tmp_path / "o.png")],
        capture_output=True, text=True, cwd=tmp_path, env={"PYTHONPATH": str(ROOT), "PATH": "/usr/bin:/bin"},
        timeout=120,
    )
    assert proc.returncode == 2, proc.stderr
    assert message in proc.stderr and "Traceback" not in proc.stderr
    assert len(proc.stderr.strip().splitlines()) == 1


def test_cli_warns_in_one_line_of_an_all_black_mask(tmp_path, capsys):
    content = ROOT / "examples" / "chelsea.jpg"
    styles = [ROOT / "examples" / "starry_night.jpg", ROOT / "examples" / "mosaic.jpg"]
    black = tmp_path / "black.png"
    Image.new("L", Image.open(content).size, 0).save(black)
    mask = _half_mask(tmp_path / "m.png", content)
    code = main([str(content), *map(str, styles), "--mask", str(mask), str(black), "-o", str(tmp_path / "o.png"),
                 "--steps", "1", "--size", "64"])
    assert code == 0
    assert "nst: warning: the mask 2 is all black" in capsys.readouterr().err


def test_dry_run_at_8192_px_shows_the_tiles_memory_and_estimate(tmp_path, content_path, style_path, capsys,
                                                                monkeypatch):
    import nst.pipeline
    import nst.tiles
    from nst.schedule import CostModel

    monkeypatch.setattr(nst.tiles, "_available_bytes", lambda: 64e9)  # a machine that holds 8192 px
    monkeypatch.setattr(nst.pipeline, "calibrate", lambda device, precision: CostModel(step=(0.01, 0.3),
                                                                                       scale=(0.05, 0.3)))
    out = tmp_path / "out.png"
    assert main([str(content_path), str(style_path), "-o", str(out), "--size", "8192", "--dry-run"]) == 0
    lines = capsys.readouterr().out.strip().splitlines()
    assert lines[0].startswith("plan: 200 steps to 8192×")
    assert "whole" in lines[1] and "tiles of" in lines[-4] and "GB" in lines[-4]  # coarse whole, finest tiled
    assert any(l.startswith("memory: ") and "GB at most for the run" in l for l in lines)
    assert lines[-1].startswith("estimated seconds: ") and int(lines[-1].split(": ")[1]) > 300  # hundreds of seconds even at this fast rate
    assert not out.exists()
