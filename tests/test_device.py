import pytest
import torch

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


@pytest.mark.parametrize("bf16_seconds, expected", [(0.002, torch.bfloat16), (0.016, None), (0.0038, None)])
def test_auto_takes_bf16_on_the_cpu_only_where_it_measures_faster(monkeypatch, bf16_seconds, expected):
    probe = {None: 0.004, torch.bfloat16: bf16_seconds}
    monkeypatch.setattr(dev, "_native_bf16", lambda: False)
    monkeypatch.setattr(dev, "_cpu_seconds_per_gflop", lambda dtype: probe[dtype])
    assert dev.autocast_dtype("auto", torch.device("cpu")) is expected


def test_native_bf16_is_taken_without_timing(monkeypatch):
    monkeypatch.setattr(dev, "_native_bf16", lambda: True)
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
