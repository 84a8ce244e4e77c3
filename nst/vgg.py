"""VGG19 as a named-layer feature extractor.

The network is written out here rather than taken from torchvision (which does not
import against every torch build). Layers carry their standard names (``conv1_1``,
``relu1_1``, ..., ``pool5``) and :meth:`VGG19Features.forward` returns a dict of
the requested activations, stopping after the deepest one.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator, Sequence
from typing import cast

import torch
from torch import nn

__all__ = [
    "CONV_NAMES",
    "LAYER_NAMES",
    "VGG19Features",
    "channels",
    "check_layer_names",
    "deepest",
    "min_input_size",
]

# Output channels of the convolutions of each of the five blocks.
_BLOCKS: tuple[tuple[int, ...], ...] = (
    (64, 64),
    (128, 128),
    (256, 256, 256, 256),
    (512, 512, 512, 512),
    (512, 512, 512, 512),
)


def _layer_table() -> list[tuple[str, str, int, int]]:
    """(name, kind, in_channels, out_channels) for every layer, in order."""
    table: list[tuple[str, str, int, int]] = []
    in_ch = 3
    for b, block in enumerate(_BLOCKS, start=1):
        for c, out_ch in enumerate(block, start=1):
            table.append((f"conv{b}_{c}", "conv", in_ch, out_ch))
            table.append((f"relu{b}_{c}", "relu", out_ch, out_ch))
            in_ch = out_ch
        table.append((f"pool{b}", "pool", in_ch, in_ch))
    return table


_TABLE = _layer_table()
LAYER_NAMES: tuple[str, ...] = tuple(name for name, *_ in _TABLE)
CONV_NAMES: tuple[str, ...] = tuple(name for name, kind, *_ in _TABLE if kind == "conv")
_CHANNELS = {name: out_ch for name, _, _, out_ch in _TABLE}


def check_layer_names(names: Iterable[str]) -> list[str]:
    """Return ``names`` as a list, raising ``ValueError`` for any unknown layer name."""
    names = list(names)
    unknown = [n for n in names if n not in _CHANNELS]
    if unknown:
        raise ValueError(
            f"unknown VGG19 layer {', '.join(map(repr, unknown))}; "
            f"valid names are conv1_1 ... conv5_4, relu1_1 ... relu5_4 and pool1 ... pool5"
        )
    return names


def channels(name: str) -> int:
    """Number of channels of the named layer's output."""
    return _CHANNELS[name]


def min_input_size(names: Iterable[str]) -> int:
    """Smallest image side (px) at which every named layer still has at least 2×2 positions.

    Each pool halves the side, so a layer after ``k`` pools needs ``2 * 2**k`` pixels.
    """
    pools = max((_pools_before(n) for n in check_layer_names(names)), default=0)
    return 2 * 2**pools


def _pools_before(name: str) -> int:
    idx = LAYER_NAMES.index(name)
    return sum(1 for n in LAYER_NAMES[:idx] if n.startswith("pool"))


class VGG19Features(nn.Module):
    """VGG19's convolutional part with named outputs.

    The input is an RGB image batch in [0, 1]; the preprocessing that the weights were
    trained with (Caffe's BGR 0–255 mean-subtracted input, or torchvision's ImageNet
    mean/std) is part of the module, so callers never see it.

    Args:
        state_dict: weights keyed ``conv{b}_{c}.weight`` / ``conv{b}_{c}.bias``.
        preprocessing: ``"caffe"`` or ``"imagenet"``.
        pooling: ``"max"`` (as in the original VGG) or ``"avg"`` (as in Gatys et al.).
        last_layer: build the network only up to this layer; deeper layers are dropped.
    """

    # Buffers (register_buffer): declared so that they read as tensors, not Module attributes.
    scale: torch.Tensor
    shift: torch.Tensor

    def __init__(
        self,
        state_dict: dict[str, torch.Tensor] | None = None,
        *,
        preprocessing: str = "caffe",
        pooling: str = "max",
        last_layer: str = "pool5",
    ) -> None:
        super().__init__()
        if preprocessing not in ("caffe", "imagenet"):
            raise ValueError(f"preprocessing must be 'caffe' or 'imagenet', not {preprocessing!r}")
        if pooling not in ("max", "avg"):
            raise ValueError(f"pooling must be 'max' or 'avg', not {pooling!r}")
        check_layer_names([last_layer])
        self.preprocessing = preprocessing
        self.pooling = pooling
        if preprocessing == "caffe":
            # Caffe VGG: BGR channel order, 0–255 range, minus the ImageNet mean pixel.
            scale = torch.full((3,), 255.0)
            mean = torch.tensor([123.68, 116.779, 103.939])  # RGB order; flipped in forward
            self.bgr = True
        else:
            scale = 1.0 / torch.tensor([0.229, 0.224, 0.225])
            mean = torch.tensor([0.485, 0.456, 0.406]) * scale
            self.bgr = False
        self.register_buffer("scale", scale.view(1, 3, 1, 1), persistent=False)
        self.register_buffer("shift", mean.view(1, 3, 1, 1), persistent=False)

        self.layers = nn.ModuleDict()
        # With weights given, the convs are made on the meta device (no memory, no random
        # init) and then take the given tensors themselves, without a copy.
        conv_device = "meta" if state_dict is not None else None
        for name, kind, in_ch, out_ch in _TABLE:
            if kind == "conv":
                layer: nn.Module = nn.Conv2d(in_ch, out_ch, kernel_size=3, padding=1, device=conv_device)
            elif kind == "relu":
                # Never in place: conv outputs may be requested alongside their ReLUs.
                layer = nn.ReLU(inplace=False)
            elif pooling == "max":
                layer = nn.MaxPool2d(2, 2)
            else:
                layer = nn.AvgPool2d(2, 2)
            self.layers[name] = layer
            if name == last_layer:
                break
        if state_dict is not None:
            self.load_weights(state_dict)
        self.requires_grad_(False)
        self.eval()

    @property
    def last_layer(self) -> str:
        return list(self.layers.keys())[-1]

    def load_weights(self, state_dict: dict[str, torch.Tensor]) -> None:
        """Copy conv weights in, checking names and shapes; extra deeper layers are ignored.

        Parameters still on the meta device take the given tensors (as float32) instead.
        """
        for name, layer in self.layers.items():
            if not isinstance(layer, nn.Conv2d):
                continue
            for part in ("weight", "bias"):
                key = f"{name}.{part}"
                if key not in state_dict:
                    raise ValueError(f"the weights have no {key!r}")
                src = state_dict[key]
                dst = getattr(layer, part)
                if tuple(src.shape) != tuple(dst.shape):
                    raise ValueError(f"{key!r} has shape {tuple(src.shape)}, expected {tuple(dst.shape)}")
                if dst.is_meta:
                    setattr(layer, part, nn.Parameter(src.to(dst.dtype), requires_grad=False))
                    continue
                with torch.no_grad():
                    dst.copy_(src.to(dst.dtype))

    def truncated(self, last_layer: str) -> VGG19Features:
        """A copy sharing this one's parameters, cut after ``last_layer``."""
        check_layer_names([last_layer])
        if LAYER_NAMES.index(last_layer) > LAYER_NAMES.index(self.last_layer):
            raise ValueError(f"this network ends at {self.last_layer}, before {last_layer}")
        out = VGG19Features.__new__(VGG19Features)
        nn.Module.__init__(out)
        out.preprocessing, out.pooling, out.bgr = self.preprocessing, self.pooling, self.bgr
        out.register_buffer("scale", self.scale, persistent=False)
        out.register_buffer("shift", self.shift, persistent=False)
        out.layers = nn.ModuleDict()
        for name, layer in self.layers.items():
            out.layers[name] = layer
            if name == last_layer:
                break
        out.eval()
        return out

    def preprocess(self, image: torch.Tensor) -> torch.Tensor:
        """Map an RGB [0, 1] batch to the network's input space."""
        x = image * self.scale - self.shift
        return x.flip(1) if self.bgr else x

    def deprocess(self, x: torch.Tensor) -> torch.Tensor:
        """Inverse of :meth:`preprocess`."""
        if self.bgr:
            x = x.flip(1)
        return (x + self.shift) / self.scale

    def forward(self, image: torch.Tensor, layers: Sequence[str]) -> dict[str, torch.Tensor]:
        """Activations of ``layers`` for an RGB [0, 1] image batch.

        Args:
            image: ``(N, 3, H, W)`` tensor in [0, 1].
            layers: names of the layers to return; the pass stops after the deepest one.

        Returns:
            ``{name: activation}`` for each requested name.
        """
        return dict(self.iter_features(image, layers))

    def iter_features(
        self, image: torch.Tensor, layers: Sequence[str], check: Callable[[], None] | None = None
    ) -> Iterator[tuple[str, torch.Tensor]]:
        """Like :meth:`forward`, but yields ``(name, activation)`` as soon as each is computed.

        A cost taken on an activation before the pass goes deeper is, in autograd's
        backward order, differentiated just before that layer, not first: its gradient is
        not held in memory while the deeper layers' backward runs.

        Args:
            image: ``(N, 3, H, W)`` in [0, 1].
            layers: the layers to yield, in any order.
            check: called after every layer, on the way forward and (for an input that
                needs gradients) back; what it raises ends the pass, so that a run can be
                stopped within one layer's time.
        """
        wanted = set(check_layer_names(layers))
        missing = wanted - set(self.layers.keys())
        if missing:
            raise ValueError(f"this network ends at {self.last_layer}; cannot reach {sorted(missing)}")
        found = 0
        x = self.preprocess(image)
        if cast(nn.Conv2d, self.layers["conv1_1"]).weight.is_contiguous(memory_format=torch.channels_last):
            # Weights in channels-last (as load_model makes them on the CPU): give the
            # input the same format, or oneDNN reorders it on every pass (bf16: 20% slower).
            x = x.contiguous(memory_format=torch.channels_last)
        for name, layer in self.layers.items():
            x = layer(x)
            if check is not None:
                check()
                if x.requires_grad:
                    x.register_hook(lambda grad: check())  # returns None: the gradient is kept
            if name in wanted:
                yield name, x
                found += 1
                if found == len(wanted):
                    break


def deepest(names: Iterable[str]) -> str:
    """The deepest of the named layers."""
    return max(names, key=LAYER_NAMES.index)
