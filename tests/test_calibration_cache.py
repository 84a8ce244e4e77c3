import json
import os

import pytest
import torch

import nst
from nst import calibration_cache as cc
from nst import calibration, contention, costs, pipeline
from nst.schedule import CostModel

from .support.paths import EXAMPLES

CPU = torch.device("cpu")
MODEL = CostModel(step=(0.01, 0.5), scale=(0.05, 0.7), finish=(0.02, 0.3), setup=1.25, measured=True)


@pytest.fixture
def cache_dir(tmp_path, monkeypatch):
    """A cache folder of the test's own, and no cost model measured in this process yet."""
    monkeypatch.setenv(cc.ENV_DIR, str(tmp_path / "cache"))
    monkeypatch.setattr(costs, "_MEASURED", {})
    return tmp_path / "cache"


def test_the_suite_never_uses_the_users_cache():
    assert os.environ.get(cc.ENV_DIR), "tests/conftest.py sets NST_CACHE_DIR"
    assert not str(cc.cache_path()).startswith(os.path.expanduser("~/.cache"))


def test_cache_folder_follows_xdg_then_home(monkeypatch, tmp_path):
    monkeypatch.delenv(cc.ENV_DIR)
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "xdg"))
    assert cc.cache_path() == tmp_path / "xdg" / "nst" / "calibration.json"
    monkeypatch.delenv("XDG_CACHE_HOME")
    monkeypatch.setenv("HOME", str(tmp_path / "home"))
    assert cc.cache_path() == tmp_path / "home" / ".cache" / "nst" / "calibration.json"


def test_a_stored_model_comes_back_for_this_machine_only(cache_dir):
    assert cc.load(CPU, "bf16") is None
    assert cc.store(CPU, "bf16", MODEL)
    assert cc.load(CPU, "bf16") == MODEL
    assert cc.load(CPU, "fp32") is None  # another precision is another entry
    key = cc.machine_key(CPU, "bf16")
    assert torch.__version__ in key and "cpu" in key


def test_other_machines_entries_are_kept(cache_dir):
    cc.store(CPU, "bf16", MODEL)
    data = json.loads(cc.cache_path().read_text())
    other = "cpu | Some Other CPU ×64 | torch 1.0 | bf16"
    data["entries"][other] = data["entries"][cc.machine_key(CPU, "bf16")]
    cc.cache_path().write_text(json.dumps(data))
    cc.store(CPU, "fp32", MODEL)
    entries = json.loads(cc.cache_path().read_text())["entries"]
    assert other in entries and cc.machine_key(CPU, "fp32") in entries


@pytest.mark.parametrize(
    "text",
    [
        "{not json",
        "",
        "\x00\x01\x02",
        json.dumps([1, 2, 3]),
        json.dumps({"format": "someone-else", "entries": {}}),
        json.dumps({"entries": {}}),
        json.dumps({"format": cc.FORMAT, "entries": []}),
    ],
)
def test_a_damaged_or_foreign_file_is_ignored_and_rewritten(cache_dir, text):
    cache_dir.mkdir()
    cc.cache_path().write_text(text)
    assert cc.load(CPU, "bf16") is None
    assert cc.store(CPU, "bf16", MODEL)
    assert json.loads(cc.cache_path().read_text())["format"] == cc.FORMAT
    assert cc.load(CPU, "bf16") == MODEL


@pytest.mark.parametrize(
    "bad",
    [
        {"step": [0.01]},
        {"step": "fast"},
        {"setup": float("nan")},
        {"step": [-1, 0.5]},
        {"finish": [0, 1e9]},
        {"step": [0, 0]},
    ],
)
def test_an_entry_with_bad_numbers_is_ignored(cache_dir, bad):
    cc.store(CPU, "bf16", MODEL)
    data = json.loads(cc.cache_path().read_text())
    data["entries"][cc.machine_key(CPU, "bf16")].update(bad)
    cc.cache_path().write_text(json.dumps(data))
    assert cc.load(CPU, "bf16") is None


def test_an_unwritable_folder_leaves_the_costs_to_the_process(tmp_path, monkeypatch):
    blocker = tmp_path / "file"
    blocker.write_text("x")
    monkeypatch.setenv(cc.ENV_DIR, str(blocker / "sub"))  # a folder under a file cannot be made
    assert cc.store(CPU, "bf16", MODEL) is False


def test_calibrate_takes_the_cached_costs_without_timing(cache_dir, monkeypatch):
    precision = costs.precision_name("auto", CPU)
    cc.store(CPU, precision, MODEL)

    def no_timing(*args, **kwargs):
        raise AssertionError("calibrate timed steps although the machine's costs are cached")

    monkeypatch.setattr(calibration, "run_events", no_timing)
    monkeypatch.setattr(calibration, "load_model", no_timing)
    assert pipeline.calibrate(CPU) == MODEL
    assert costs.current_cost(CPU) == MODEL  # runs take it too


@pytest.mark.slow
def test_calibrate_times_once_and_keeps_it(cache_dir, monkeypatch):
    monkeypatch.setattr(contention, "SHARE_MIN", 0.0)  # the timing had the CPU (a busy one: below)
    model = pipeline.calibrate(CPU)
    assert model.measured and model.step_seconds(0.1) > 0
    precision = costs.precision_name("auto", CPU)
    assert cc.load(CPU, precision) == model
    # A new process (here: an empty in-process table) reads it instead of timing again.
    monkeypatch.setattr(costs, "_MEASURED", {})
    monkeypatch.setattr(calibration, "run_events", lambda *a, **k: (_ for _ in ()).throw(AssertionError("timed again")))
    assert pipeline.calibrate(CPU) == model


def test_an_older_or_foreign_format_is_not_read_even_with_this_machines_key(cache_dir):
    cc.store(CPU, "bf16", MODEL)
    data = json.loads(cc.cache_path().read_text())
    data["format"] = "nst-calibration-0"  # what a CostModel meant then may differ
    cc.cache_path().write_text(json.dumps(data))
    assert cc.load(CPU, "bf16") is None
    cc.store(CPU, "fp32", MODEL)
    rewritten = json.loads(cc.cache_path().read_text())
    assert rewritten["format"] == cc.FORMAT and list(rewritten["entries"]) == [cc.machine_key(CPU, "fp32")]


def test_choices_and_cost_models_share_the_file_without_losing_each_other(cache_dir):
    assert cc.load_choice(CPU, "precision") is None
    assert cc.store(CPU, "fp32", MODEL)
    assert cc.store_choice(CPU, "precision", "fp32")
    assert cc.load(CPU, "fp32") == MODEL  # the choice kept the model
    assert cc.store(CPU, "bf16", MODEL)
    assert cc.load_choice(CPU, "precision") == "fp32"  # the model kept the choice
    data = json.loads(cc.cache_path().read_text())
    data["choices"] = {"x": 3, cc.machine_key(CPU, "precision"): ["bf16"]}  # not strings: ignored
    cc.cache_path().write_text(json.dumps(data))
    assert cc.load_choice(CPU, "precision") is None
    assert cc.load(CPU, "fp32") == MODEL


def test_calibrate_at_a_busy_moment_keeps_its_timing_for_the_process_only(cache_dir, monkeypatch):
    monkeypatch.setattr(contention, "SHARE_MIN", 2.0)  # no process gets twice its threads' time
    monkeypatch.setattr(calibration, "CALIBRATION_SIZES", (64, 96))
    model = pipeline.calibrate(CPU)
    assert model.measured and costs.current_cost(CPU) == model
    assert cc.load(CPU, costs.precision_name("auto", CPU)) is None


def _run_at_64(cache_dir):
    nst.stylize_image(
        EXAMPLES / "chelsea.jpg",
        EXAMPLES / "starry_night.jpg",
        size=64,
        steps=8,
        multiscale=False,
        device="cpu",
        keep_faces=False,
    )


def test_a_finished_run_at_a_busy_moment_leaves_the_machines_costs(cache_dir, monkeypatch):
    """A busy machine's pace holds for the process (the app's next estimate), not for the machine."""
    precision = costs.precision_name("auto", CPU)
    slow = CostModel(step=(5.0, 50.0), scale=(5.0, 50.0), finish=(1.0, 1.0), setup=1.25, measured=True)
    cc.store(CPU, precision, slow)
    monkeypatch.setattr(contention, "SHARE_MIN", 2.0)
    _run_at_64(cache_dir)
    assert cc.load(CPU, precision) == slow
    assert costs._MEASURED[("cpu", precision)].step_seconds(0.01) < slow.step_seconds(0.01)


def test_a_finished_run_refreshes_the_machines_costs(cache_dir, monkeypatch):
    """A calibration taken at a busy moment would mislead every later dry run: each finished
    run with the CPU to itself keeps the costs it measured, for the next process."""
    monkeypatch.setattr(contention, "SHARE_MIN", 0.0)
    precision = costs.precision_name("auto", CPU)
    slow = CostModel(step=(5.0, 50.0), scale=(5.0, 50.0), finish=(1.0, 1.0), setup=1.25, measured=True)
    cc.store(CPU, precision, slow)
    _run_at_64(cache_dir)
    kept = cc.load(CPU, precision)
    assert kept is not None and kept.step_seconds(0.01) < slow.step_seconds(0.01)  # 5.5 s a step at 64 px: no
    assert kept == costs._MEASURED[("cpu", precision)]


HOLDER = """
import sys, time
import torch
from nst import calibration_cache as cc
from nst.schedule import CostModel
with cc.machine_lock("cpu " + sys.argv[1]):
    print("held", flush=True)
    time.sleep(1.5)  # timing the machine, as another process's calibrate would
    cc.store(torch.device("cpu"), sys.argv[1], CostModel(step=(0.01, 0.5), scale=(0.05, 0.7), finish=(0.02, 0.3),
                                                         setup=1.25, measured=True))
"""


def test_a_process_waits_for_anothers_timing_and_takes_its_costs(cache_dir, monkeypatch):
    """Two processes calibrating at once (an app and a CLI, the suite's workers) time the
    machine once: the second waits on the machine lock and reads what the first stored."""
    import subprocess
    import sys
    import time

    precision = costs.precision_name("auto", CPU)  # (before the lock is taken)
    holder = subprocess.Popen(
        [sys.executable, "-c", HOLDER, precision],
        stdout=subprocess.PIPE,
        text=True,
        env={**os.environ, "PYTHONPATH": str(EXAMPLES.parent)},
    )
    try:
        assert holder.stdout.readline().strip() == "held"
        t = time.monotonic()
        with pytest.warns(RuntimeWarning, match=rf"pid {holder.pid}\) has been timing this machine for 0.2 s"):
            with cc.machine_lock("cpu " + precision, wait=0.2) as held:  # held elsewhere: given up after `wait`
                assert not held and 0.15 < time.monotonic() - t < 1.0
        with cc.machine_lock("cuda bf16", wait=0) as held:  # another entry is not held
            assert held
        monkeypatch.setattr(
            calibration,
            "_time_steps",
            lambda *a: (_ for _ in ()).throw(AssertionError("timed the machine while another process was timing it")),
        )
        assert pipeline.calibrate(CPU) == MODEL
        assert time.monotonic() - t > 0.5  # it waited for the holder's store
    finally:
        holder.wait(timeout=60)
    with cc.machine_lock("cpu " + precision, wait=0) as held:
        assert held
        with cc.machine_lock("cpu " + precision, wait=0) as again:  # the holder's thread may take it again
            assert again


# A holder that does not run: stopped (SIGSTOP, Ctrl-Z), paused in a debugger, hung.
SLEEPER = """
import sys, time
from nst import calibration_cache as cc
with cc.machine_lock(sys.argv[1]):
    print("held", flush=True)
    time.sleep(600)
"""

# A holder that computes (as a calibration does) for longer than LOCK_STALL, then stores.
WORKER = """
import sys, time
import torch
from nst import calibration_cache as cc
from nst.schedule import CostModel
with cc.machine_lock("cpu " + sys.argv[1]):
    print("held", flush=True)
    end = time.monotonic() + float(sys.argv[2])
    while time.monotonic() < end:
        pass
    cc.store(torch.device("cpu"), sys.argv[1], CostModel(step=(0.01, 0.5), scale=(0.05, 0.7), finish=(0.02, 0.3),
                                                         setup=1.25, measured=True))
"""


def _start(code: str, *args: str):
    import subprocess
    import sys

    proc = subprocess.Popen(
        [sys.executable, "-c", code, *args],
        stdout=subprocess.PIPE,
        text=True,
        env={**os.environ, "PYTHONPATH": str(EXAMPLES.parent)},
    )
    assert proc.stdout.readline().strip() == "held"
    return proc


def test_a_stopped_holder_holds_the_others_up_seconds_not_minutes(cache_dir, monkeypatch):
    """A process stopped while it holds the machine lock made every other start wait
    LOCK_WAIT (minutes). Now they wait LOCK_STALL seconds, say so, and go on without the
    cache: they time for themselves and write nothing (the holder may go on later)."""
    import signal
    import time

    precision = costs.precision_name("auto", CPU)
    timed = []

    def time_steps(dev, precision, key):  # calibrate's timing, quick: remembered, and stored if it may be
        timed.append(key)
        costs.remember_cost(*key, MODEL)
        cc.store(dev, key[1], MODEL)
        return MODEL

    monkeypatch.setattr(calibration, "_time_steps", time_steps)
    holder = _start(SLEEPER, "cpu " + precision)
    try:
        os.kill(holder.pid, signal.SIGSTOP)
        t = time.monotonic()
        message = (
            rf"^another process \(pid {holder.pid}\) holds the lock on timing this machine but is stopped "
            rf"\(5 s without progress\); going on without the calibration cache for cpu {precision}$"
        )
        with pytest.warns(RuntimeWarning, match=message):
            assert pipeline.calibrate(CPU) == MODEL
        took = time.monotonic() - t
        assert cc.LOCK_STALL == 5.0 and 5.0 <= took < 8.0, took
        assert timed == [("cpu", precision)] and cc.load(CPU, precision) is None  # timed here; not kept in the file
        t = time.monotonic()
        assert pipeline.calibrate(CPU) == MODEL and time.monotonic() - t < 0.5  # once per process: no second wait
        # The lock itself, and the choices' (nst.device's precision probe) alike.
        monkeypatch.setattr(cc, "LOCK_STALL", 0.5)
        with pytest.warns(RuntimeWarning, match=rf"pid {holder.pid}\) .* is stopped"):
            with cc.machine_lock("cpu " + precision) as held:
                assert not held and not cc.store(CPU, precision, MODEL) and cc.load(CPU, precision) is None
        assert cc.store(CPU, precision, MODEL)  # after the block: a finished run's costs are kept again
        assert time.monotonic() - t < 3.0
    finally:
        os.kill(holder.pid, signal.SIGCONT)
        holder.kill()
        holder.wait(timeout=60)


def test_a_holder_that_computes_is_waited_for_past_the_stall_bound(cache_dir, monkeypatch):
    """The suite's workers (and an app beside a CLI) still time the machine once: a holder
    that uses CPU time is waited for, however long past LOCK_STALL, up to LOCK_WAIT."""
    import time

    monkeypatch.setattr(cc, "LOCK_STALL", 1.5)
    monkeypatch.setattr(
        calibration,
        "_time_steps",
        lambda *a: (_ for _ in ()).throw(AssertionError("timed the machine while another process was timing it")),
    )
    precision = costs.precision_name("auto", CPU)
    holder = _start(WORKER, precision, "4")
    try:
        t = time.monotonic()
        assert pipeline.calibrate(CPU) == MODEL
        assert time.monotonic() - t > 3.0  # waited for its store, past the stall bound
    finally:
        holder.kill()
        holder.wait(timeout=60)
