"""The app on an emulated ZeroGPU (tests/support/zerogpu.py: the real `spaces` package, its forked
worker and pickled events; a local scheduler and the CPU in place of the GPU).

The checks run in one fresh process (`spaces` reads SPACES_ZERO_GPU when imported, and
patches torch then), one after the other with the same worker, as on a Space; each test
reads its part of the result.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys

import pytest

from .support.paths import ROOT


@pytest.fixture(scope="module")
def emulated() -> dict:
    proc = subprocess.Popen(
        [sys.executable, "-m", "tests.support.zerogpu", "all"],
        cwd=ROOT,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env={**os.environ, "OMP_NUM_THREADS": "1"},
        start_new_session=True,  # its GPU workers too are ended below, should it hang
    )
    try:
        stdout, stderr = proc.communicate(timeout=900)
    except subprocess.TimeoutExpired:
        os.killpg(proc.pid, signal.SIGKILL)
        stdout, stderr = proc.communicate()
    lines = [line for line in stdout.splitlines() if line.startswith("RESULT ")]
    assert lines, f"the emulation gave no result (rc {proc.returncode}):\n{stdout[-3000:]}\n{stderr[-3000:]}"
    return json.loads(lines[-1][len("RESULT ") :])


def part(emulated: dict, name: str) -> dict:
    r = emulated[name]
    assert "exception" not in r, r["exception"]
    return r


def test_precision_is_fp32_below_compute_capability_8(emulated):
    """7.5 (a T4): fp32, though torch.cuda.is_bf16_supported() says True there (emulated)."""
    assert part(emulated, "plain75")["recipe"]["precision"] == "fp32"


def test_precision_is_bf16_from_compute_capability_8(emulated):
    assert part(emulated, "plain80")["recipe"]["precision"] == "bf16"


def test_a_recipe_records_no_time_limit_the_app_imposed(emulated):
    r = part(emulated, "plain75")
    assert r["requests"], r  # it did go through the scheduler
    assert r["recipe"]["settings"]["time_limit"] is None, r["recipe"]["settings"]


def _within_a_step(r: dict) -> None:
    assert r["acted"], r
    assert r["idle_after"] is not None, f"the worker was still computing a minute after: {r}"
    # The step under way at most, plus a beat of the handler and the pickling.
    assert r["idle_after"] <= r["step"] + 1.0, r


def test_stop_leaves_the_worker_idle_within_a_step(emulated):
    r = part(emulated, "stop")
    _within_a_step(r)
    assert "Stopped" in r["last"][1], r


def test_a_closed_handler_leaves_the_worker_idle_within_a_step(emulated):
    _within_a_step(part(emulated, "close"))


def test_out_of_memory_in_the_worker_gives_nsts_message_and_the_retry(emulated):
    r = part(emulated, "oom")
    assert any("retrying at 176 px" in s for s in r["statuses"]), r
    assert r["size"] == 176, r
    assert r["message"] == r["expected"], r


def test_a_run_larger_than_the_quota_left_is_planned_to_fit(emulated):
    r = part(emulated, "quota")
    assert r["error"] is None, r
    assert r["requests"][-1] <= r["quota"], r  # the run that ran asked for what was left
    assert any("quota" in s for s in r["statuses"]), r
    assert "Done" in r["statuses"][-1], r


def test_a_clip_longer_than_one_call_is_styled_over_several(emulated):
    r = part(emulated, "clip")
    assert len(r["requests"]) == r["frames"] == 4, r  # a call per frame, each part from the last one's carry
    assert r["audio"], r
    assert "Done" in r["statuses"][-1] and "4 frames" in r["statuses"][-1], r
