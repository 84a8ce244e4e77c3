import pytest
import torch

from nst import contention
from nst import device as dev
from nst.settings import SettingsError


def test_cpu_and_auto_resolve():
    assert dev.resolve_device("cpu") == torch.device("cpu")
    expected = "cuda" if torch.cuda.is_available() else "mps" if torch.backends.mps.is_available() else "cpu"
    assert dev.resolve_device("auto").type == expected


@pytest.mark.parametrize("cuda, mps, expected", [(True, True, "cuda"), (False, True, "mps"), (False, False, "cpu")])
def test_auto_prefers_cuda_then_mps_then_the_cpu(monkeypatch, cuda, mps, expected):
    monkeypatch.setattr(torch.cuda, "is_available", lambda: cuda)
    monkeypatch.setattr(torch.backends.mps, "is_available", lambda: mps)
    assert dev.resolve_device("auto") == torch.device(expected)


@pytest.mark.parametrize("name", ["gpu0", "tpu", "", "cuda:99"])
def test_unknown_or_missing_devices_are_refused_by_name(name):
    with pytest.raises(SettingsError, match="device"):
        dev.resolve_device(name)


@pytest.mark.skipif(torch.cuda.is_available(), reason="this machine has a GPU")
def test_cuda_without_a_gpu_says_so():
    with pytest.raises(SettingsError, match="no CUDA GPU"):
        dev.resolve_device("cuda")


def test_explicit_precisions_are_obeyed():
    cpu = torch.device("cpu")
    assert dev.autocast_dtype("fp32", cpu) is None
    assert dev.autocast_dtype("bf16", cpu) is torch.bfloat16
    assert dev.autocast_dtype("auto", torch.device("mps")) is None


@pytest.fixture
def fresh_choice(monkeypatch, tmp_path):
    """No AMX, an empty calibration cache, and no answer kept in this process."""
    monkeypatch.setenv("NST_CACHE_DIR", str(tmp_path))
    monkeypatch.setattr(dev, "_amx", lambda: False)
    monkeypatch.setattr(contention, "SHARE_MIN", 0.0)  # the probe had the CPU (a busy one: below)
    dev._cpu_bf16_pays.cache_clear()
    yield tmp_path
    dev._cpu_bf16_pays.cache_clear()


@pytest.mark.parametrize("bf16_seconds, expected", [(0.002, torch.bfloat16), (0.016, None), (0.0038, None)])
def test_auto_takes_bf16_on_the_cpu_only_where_it_measures_faster(monkeypatch, fresh_choice, bf16_seconds, expected):
    probe = {None: 0.004, torch.bfloat16: bf16_seconds}
    monkeypatch.setattr(dev, "_cpu_seconds_per_gflop", lambda dtype: probe[dtype])
    assert dev.autocast_dtype("auto", torch.device("cpu")) is expected


def test_the_measured_precision_is_kept_per_machine(monkeypatch, fresh_choice):
    from nst import calibration_cache

    monkeypatch.setattr(dev, "_cpu_seconds_per_gflop", {None: 0.004, torch.bfloat16: 0.002}.get)
    assert dev.autocast_dtype("auto", torch.device("cpu")) is torch.bfloat16
    assert calibration_cache.load_choice(torch.device("cpu"), "precision") == "bf16"
    # Another process on this machine, at a busy moment where the probe would say fp32:
    # it runs in the precision measured first, without timing anything.
    dev._cpu_bf16_pays.cache_clear()
    monkeypatch.setattr(dev, "_cpu_seconds_per_gflop", lambda dtype: 1 / 0)
    assert dev.autocast_dtype("auto", torch.device("cpu")) is torch.bfloat16
    # A damaged file is measured again (and rewritten).
    calibration_cache.cache_path().write_text("{not json")
    dev._cpu_bf16_pays.cache_clear()
    monkeypatch.setattr(dev, "_cpu_seconds_per_gflop", {None: 0.004, torch.bfloat16: 0.006}.get)
    assert dev.autocast_dtype("auto", torch.device("cpu")) is None
    assert calibration_cache.load_choice(torch.device("cpu"), "precision") == "fp32"


def test_a_probe_at_a_busy_moment_decides_for_its_process_only(monkeypatch, fresh_choice):
    from nst import calibration_cache

    monkeypatch.setattr(contention, "SHARE_MIN", 2.0)  # no process gets twice its threads' time
    monkeypatch.setattr(dev, "_cpu_seconds_per_gflop", {None: 0.004, torch.bfloat16: 0.006}.get)
    assert dev.autocast_dtype("auto", torch.device("cpu")) is None
    assert calibration_cache.load_choice(torch.device("cpu"), "precision") is None
    # The next process, with the CPU to itself, measures again and keeps its answer.
    dev._cpu_bf16_pays.cache_clear()
    monkeypatch.setattr(contention, "SHARE_MIN", 0.0)
    monkeypatch.setattr(dev, "_cpu_seconds_per_gflop", {None: 0.004, torch.bfloat16: 0.002}.get)
    assert dev.autocast_dtype("auto", torch.device("cpu")) is torch.bfloat16
    assert calibration_cache.load_choice(torch.device("cpu"), "precision") == "bf16"


def test_amx_takes_bf16_without_timing(monkeypatch, fresh_choice):
    monkeypatch.setattr(dev, "_amx", lambda: True)
    monkeypatch.setattr(dev, "_cpu_seconds_per_gflop", lambda dtype: 1 / 0)  # must not be called
    assert dev.autocast_dtype("auto", torch.device("cpu")) is torch.bfloat16


def test_cpu_rate_follows_the_probe_and_the_probe_is_measured_once():
    dev._cpu_seconds_per_gflop.cache_clear()
    cpu = torch.device("cpu")
    rate = dev.seconds_per_megapixel_step(cpu, None)
    assert 0 < rate < 1000
    assert dev._cpu_seconds_per_gflop.cache_info().misses == 1
    assert dev.seconds_per_megapixel_step(cpu, None) == rate
    assert dev._cpu_seconds_per_gflop.cache_info().hits >= 1
    # A twice slower convolution means a twice slower step.
    probe = dev._cpu_seconds_per_gflop(None)
    dev._cpu_seconds_per_gflop.cache_clear()
    try:
        with pytest.MonkeyPatch.context() as m:
            m.setattr(dev, "_cpu_seconds_per_gflop", lambda dtype: 2 * probe)
            assert dev.seconds_per_megapixel_step(cpu, None) == pytest.approx(2 * rate)
    finally:
        dev._cpu_seconds_per_gflop.cache_clear()


@pytest.mark.parametrize("capability, expected", [((7, 5), None), ((8, 0), torch.bfloat16), ((9, 0), torch.bfloat16)])
def test_cuda_takes_bf16_only_where_it_is_native(monkeypatch, capability, expected):
    # A T4 (7.5) answers is_bf16_supported() with True, by emulation: the capability decides.
    monkeypatch.setattr(torch.cuda, "get_device_capability", lambda *a, **k: capability)
    monkeypatch.setattr(torch.cuda, "is_bf16_supported", lambda *a, **k: True)
    assert dev.autocast_dtype("auto", torch.device("cuda")) is expected
    assert dev.autocast_dtype("fp32", torch.device("cuda")) is None
