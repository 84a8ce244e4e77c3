import pytest
import torch

from nst.vgg import CONV_NAMES, LAYER_NAMES, VGG19Features, check_layer_names, deepest, min_input_size


def test_layer_table_has_standard_names():
    assert len(CONV_NAMES) == 16
    assert LAYER_NAMES[:5] == ("conv1_1", "relu1_1", "conv1_2", "relu1_2", "pool1")
    assert LAYER_NAMES[-3:] == ("conv5_4", "relu5_4", "pool5")
    assert len(LAYER_NAMES) == 16 * 2 + 5


def test_unknown_layer_is_named_in_the_error():
    with pytest.raises(ValueError, match="relu6_1"):
        check_layer_names(["relu1_1", "relu6_1"])


def test_truncation_builds_only_the_needed_layers():
    net = VGG19Features(last_layer="relu3_1")
    assert list(net.layers)[-1] == "relu3_1"
    assert "conv3_2" not in net.layers
    with pytest.raises(ValueError, match="ends at relu3_1"):
        net(torch.rand(1, 3, 32, 32), ["relu4_1"])
    full = VGG19Features()
    cut = full.truncated("relu2_1")
    assert list(cut.layers)[-1] == "relu2_1"
    assert cut.layers["conv1_1"] is full.layers["conv1_1"]  # shares parameters


def test_forward_returns_named_activations_with_expected_shapes():
    torch.manual_seed(0)
    net = VGG19Features(last_layer="relu5_1")
    out = net(torch.rand(1, 3, 64, 48), ["relu1_1", "conv2_1", "relu5_1"])
    assert set(out) == {"relu1_1", "conv2_1", "relu5_1"}
    assert out["relu1_1"].shape == (1, 64, 64, 48)
    assert out["conv2_1"].shape == (1, 128, 32, 24)
    assert out["relu5_1"].shape == (1, 512, 4, 3)
    # conv and relu outputs are distinct tensors (no in-place ReLU).
    both = net(torch.rand(1, 3, 32, 32), ["conv1_1", "relu1_1"])
    assert (both["conv1_1"] < 0).any() and (both["relu1_1"] >= 0).all()


def test_parameters_never_require_grad():
    net = VGG19Features()
    assert not any(p.requires_grad for p in net.parameters())


@pytest.mark.parametrize("pre", ["caffe", "imagenet"])
def test_preprocessing_round_trip(pre):
    net = VGG19Features(preprocessing=pre, last_layer="conv1_1")
    x = torch.rand(1, 3, 8, 8)
    assert torch.allclose(net.deprocess(net.preprocess(x)), x, atol=1e-5)


def test_caffe_preprocessing_is_bgr_0_255_minus_mean():
    net = VGG19Features(preprocessing="caffe", last_layer="conv1_1")
    rgb = torch.tensor([1.0, 0.5, 0.0]).view(1, 3, 1, 1)
    bgr = net.preprocess(rgb).flatten().tolist()
    assert bgr == pytest.approx([0.0 - 103.939, 127.5 - 116.779, 255.0 - 123.68], abs=1e-3)


def test_min_input_size_and_deepest():
    assert min_input_size(["relu1_1"]) == 2
    assert min_input_size(["relu5_1"]) == 32
    assert deepest(["relu1_1", "relu4_2", "relu3_1"]) == "relu4_2"


def test_channels_last_weights_give_the_same_features_in_channels_last():
    torch.manual_seed(0)
    net = VGG19Features(last_layer="relu3_1")
    x = torch.rand(1, 3, 40, 56)
    want = net(x, ["relu1_1", "relu3_1"])
    net.to(memory_format=torch.channels_last)
    got = net(x, ["relu1_1", "relu3_1"])
    for name in want:
        assert got[name].is_contiguous(memory_format=torch.channels_last)
        assert torch.allclose(got[name], want[name], rtol=1e-4, atol=1e-4)
