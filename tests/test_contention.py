import time

import pytest
import torch

from nst import contention
from nst.contention import CpuShare


def _spin(seconds: float) -> None:
    end = time.perf_counter() + seconds
    while time.perf_counter() < end:
        pass


def test_a_thread_that_computes_throughout_has_the_cpu_and_one_that_sleeps_has_not():
    busy = CpuShare(threads=1)
    _spin(0.3)
    # The suite runs beside other work: a spinning thread still gets most of a core.
    assert busy.share() > 0.3
    idle = CpuShare(threads=1)
    time.sleep(0.3)
    assert idle.share() < 0.1
    assert not idle.had_the_cpu("cpu")


def test_the_share_counts_every_thread_the_work_could_use():
    one, two = CpuShare(threads=1), CpuShare(threads=2)
    _spin(0.2)  # one thread of two computing
    if contention._usable_cores() >= 2:
        assert two.share() == pytest.approx(one.share() / 2, rel=0.05)
    assert two.threads <= contention._usable_cores()


def test_the_bar_is_the_setting_and_a_gpu_timing_always_stands(monkeypatch):
    share = CpuShare(threads=1)
    time.sleep(0.05)
    assert share.had_the_cpu(torch.device("cuda"))  # a GPU's work is not the CPU's
    monkeypatch.setattr(contention, "SHARE_MIN", 0.0)
    assert share.had_the_cpu("cpu")
    monkeypatch.setattr(contention, "SHARE_MIN", 0.5)
    assert not share.had_the_cpu("cpu")


def test_a_containers_cpu_quota_caps_the_cores(monkeypatch, tmp_path):
    quota = tmp_path / "cpu.max"
    quota.write_text("200000 100000\n")
    real_open = open
    monkeypatch.setattr(
        "builtins.open", lambda p, *a, **k: real_open(quota if p == "/sys/fs/cgroup/cpu.max" else p, *a, **k)
    )
    monkeypatch.setattr(contention.os, "sched_getaffinity", lambda pid: set(range(16)), raising=False)
    assert contention._usable_cores() == 2
    quota.write_text("max 100000\n")
    assert contention._usable_cores() == 16
