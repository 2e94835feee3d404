"""torchvision classifiers as encoders (their penultimate features), and the random-projection input baseline.

`model.weights` says where the weights come from: null (random initialisation, seeded by `seed`), DEFAULT
or a torchvision weights name such as IMAGENET1K_V2 (read from the torch hub cache, never downloaded
here: a cluster job must not depend on the internet), or a path to a `.pth` state dict or a Lightning
checkpoint (an idexp run's `checkpoints/best.ckpt`). The classifier head is dropped in every case.
"""
from __future__ import annotations

import os
from pathlib import Path

import torch
import torchvision
from torch import nn

from idexp.errors import ConfigError

# architecture -> the attribute holding its classifier, replaced by the identity
HEADS = {"resnet": "fc", "vit": "heads"}


def backbone(architecture: str, weights: str | None = None, in_channels: int = 3, out_dim: int | None = None,
             channels_last: bool = True) -> nn.Module:
    """torchvision's `architecture` without its classifier: the representation is its penultimate layer.
    `in_channels` other than 3 replaces a ResNet's first convolution (DisLib's grey images; random weights).
    `channels_last` stores the weights channels-last (NHWC), the layout oneDNN's CPU convolutions and GPU
    tensor cores run fastest; the values are the same (`scripts/bench.py --only resnet18` measures it)."""
    try:
        model = torchvision.models.get_model(architecture, weights=None)
    except ValueError:
        raise ConfigError(f"model.architecture={architecture!r} is not a torchvision model. Fix: e.g. resnet18, resnet50, "
                          "vit_b_16 (torchvision.models.list_models() lists them).") from None
    head = next((attr for prefix, attr in HEADS.items() if architecture.startswith(prefix)), None)
    if head is None:
        raise ConfigError(f"model.architecture={architecture!r}: idexp knows where the classifier of ResNets and ViTs "
                          "sits, not of this one. Fix: one of the resnet* or vit_* architectures.")
    width = _width(getattr(model, head))
    if out_dim is not None and out_dim != width:
        raise ConfigError(f"model.out_dim={out_dim}, but {architecture}'s penultimate layer has {width} dimensions. "
                          f"Fix: model.out_dim={width}.")
    setattr(model, head, nn.Identity())
    if weights is not None:
        model.load_state_dict(_state_dict(architecture, str(weights), head))
    if in_channels != 3:
        if not architecture.startswith("resnet"):
            raise ConfigError(f"model.in_channels={in_channels}: only a ResNet's first convolution is adapted to other "
                              "channel counts. Fix: a resnet* architecture, or 3-channel images.")
        model.conv1 = nn.Conv2d(in_channels, 64, kernel_size=7, stride=2, padding=3, bias=False)
    return model.to(memory_format=torch.channels_last) if channels_last else model


def resnet18(in_channels: int, out_dim: int = 512) -> nn.Module:
    """A random-init ResNet18 backbone: the spelling run folders recorded before `backbone` still rebuild with."""
    return backbone("resnet18", None, in_channels, out_dim)


def _width(head: nn.Module) -> int:
    linear = head if isinstance(head, nn.Linear) else next(m for m in head.modules() if isinstance(m, nn.Linear))
    return linear.in_features


def _state_dict(architecture: str, weights: str, head: str) -> dict[str, torch.Tensor]:
    """The backbone's weights from the hub cache (a torchvision weights name) or a file, classifier dropped."""
    path = Path(weights).expanduser()
    if not path.suffix and os.sep not in weights:  # a weights name such as DEFAULT or IMAGENET1K_V2
        path = _hub_file(architecture, weights)
    if not path.is_file():
        raise ConfigError(f"model.weights={weights}: no such file ({path.resolve()}). Fix: the path of a .pth state dict "
                          "or an idexp checkpoint, DEFAULT (the torch hub cache), or null for random weights.")
    try:
        state = torch.load(path, map_location="cpu", weights_only=False)
    except Exception as error:
        raise ConfigError(f"model.weights={weights}: {path} is not a torch file ({type(error).__name__}: {error}). "
                          "Fix: a state dict saved with torch.save, or an idexp checkpoint.") from None
    if isinstance(state, dict) and "state_dict" in state:  # a Lightning checkpoint: the encoder's entries
        state = {k.removeprefix("encoder."): v for k, v in state["state_dict"].items() if k.startswith("encoder.")}
    if not isinstance(state, dict):
        raise ConfigError(f"model.weights={weights}: {path} holds a {type(state).__name__}, not a state dict. "
                          "Fix: save model.state_dict(), not the model.")
    return {k: v for k, v in state.items() if not k.startswith(head + ".")}


def _hub_file(architecture: str, name: str) -> Path:
    """Where torchvision keeps the named weights once downloaded (`torch.hub.get_dir()/checkpoints`)."""
    try:
        enum = torchvision.models.get_model_weights(architecture)
        entry = enum[name] if name != "DEFAULT" else enum.DEFAULT
    except (KeyError, ValueError):
        names = ", ".join(dict.fromkeys(["DEFAULT", *torchvision.models.get_model_weights(architecture).__members__]))
        raise ConfigError(f"model.weights={name} is not a weights name of {architecture}. Fix: one of {names}, "
                          "a file path, or null.") from None
    path = Path(torch.hub.get_dir()) / "checkpoints" / os.path.basename(entry.url)
    if not path.is_file():
        raise ConfigError(
            f"model.weights={name}: {architecture}'s {entry} is not in the torch hub cache ({path}), and runs never "
            f"download. Fix: on a machine with internet, run python -c \"import torchvision; "
            f"torchvision.models.{architecture}(weights='{entry.name}')\" (or set TORCH_HOME to a cache that holds "
            "it), or pass model.weights=PATH.")
    return path


class RandomProjection(nn.Module):
    """The CE paper's "input" baseline: a fixed random linear map of the flattened, preprocessed pixels to
    `out_dim` dimensions (Johnson–Lindenstrauss: it keeps the geometry of the inputs, adds no learning).

    The matrix (N(0, 1/in_dim) entries) is regenerated from `seed`, not stored: at 150,528 × 2048 it is 1.2 GB.
    """

    def __init__(self, in_dim: int, out_dim: int = 2048, seed: int = 0) -> None:
        super().__init__()
        self.in_dim, self.out_dim = in_dim, out_dim
        generator = torch.Generator().manual_seed(seed)
        weight = torch.randn(out_dim, in_dim, generator=generator) / in_dim ** 0.5
        self.register_buffer("weight", weight, persistent=False)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = x.flatten(1)
        if x.shape[1] != self.in_dim:
            raise ValueError(f"RandomProjection takes {self.in_dim} inputs, got {x.shape[1]}: model.in_dim must be "
                             "dataset.input_dim")
        return x @ self.weight.T
