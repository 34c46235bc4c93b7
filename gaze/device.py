"""Choosing the device a run trains on."""

import torch

from gaze.errors import ConfigError


def resolve_device(name: str) -> torch.device:
    """`auto` is CUDA when present, else the CPU; any other name must be a usable device."""
    if name == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    try:
        device = torch.device(name)
    except RuntimeError as error:
        raise ConfigError(
            f"train.device={name!r} is not a device; use auto, cpu or cuda"
        ) from error
    if device.type == "cuda" and not torch.cuda.is_available():
        raise ConfigError(f"train.device={name!r} but CUDA is not available; use auto or cpu")
    return device
