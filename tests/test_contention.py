import time

import pytest
import torch

from nst import contention
from nst.contention import CpuShare


def test_the_share_is_what_the_threads_did_not_wait_for(monkeypatch):
    waited = [0]
    monkeypatch.setattr(contention, "_run_delay", lambda: waited[0])
    share = CpuShare(threads=2)
    time.sleep(0.2)
    assert share.share() == pytest.approx(1.0)  # a process that sleeps got all it asked for
    waited[0] = int(0.2 * 1e9)  # over 0.2 s, 2 threads waited 0.2 s in all: half of their time
    assert share.share() == pytest.approx(0.5, abs=0.05)
    assert not share.had_the_cpu("cpu")
    assert share.had_the_cpu(torch.device("cuda"))  # a GPU's work is not the CPU's


def test_without_the_kernels_word_the_share_is_cpu_seconds(monkeypatch):
    monkeypatch.setattr(contention, "_run_delay", lambda: None)
    idle = CpuShare(threads=1)
    time.sleep(0.2)
    assert idle.share() < 0.1
    busy = CpuShare(threads=1)
    end = time.perf_counter() + 0.2
    while time.perf_counter() < end:
        pass
    assert busy.share() > 0.3  # the suite runs beside other work: most of a core still


def test_the_kernel_counts_this_process_waits():
    delay = contention._run_delay()
    if delay is None:
        pytest.skip("no schedstat here")
    assert delay >= 0 and CpuShare().share() <= 1.0


def test_the_bar_is_the_setting(monkeypatch):
    monkeypatch.setattr(contention, "_run_delay", lambda: 0)
    share = CpuShare(threads=1)
    monkeypatch.setattr(contention, "SHARE_MIN", 0.0)
    assert share.had_the_cpu("cpu")
    monkeypatch.setattr(contention, "SHARE_MIN", 2.0)
    assert not share.had_the_cpu("cpu")


def test_a_timing_on_fewer_threads_than_torchs_own_does_not_stand_for_the_machine(monkeypatch):
    monkeypatch.setattr(contention, "_run_delay", lambda: 0)
    monkeypatch.setattr(contention, "SHARE_MIN", 0.0)
    share = CpuShare()
    assert share.had_the_cpu("cpu")
    monkeypatch.setattr(contention, "_DEFAULT_THREADS", torch.get_num_threads() + 1)  # as after set_num_threads(n - 1)
    assert not share.had_the_cpu("cpu") and share.had_the_cpu("cuda")


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
