"""ETH-XGaze in its published per-subject HDF5 layout, face patches resized to the input size.

`data.path` holds the split file (`train_test_split.json`: {"train": [...], "test": [...]} of
file names) and a `train/` folder of `subjectNNNN.h5` files, each with `face_patch`
(N, H, W, 3) uint8 and `face_gaze` (N, 2) pitch and yaw in radians. The test subjects'
labels are not published, so validation holds out the last `data.val_subjects` training
subjects.
"""

import json

import numpy as np
import torch
import torch.nn.functional as F

from gaze.data.dataset import GazeTensors
from gaze.data.files import HELP, check_same_length, checked_dataset, existing_path, open_h5
from gaze.errors import ConfigError

_CHUNK = 256  # face patches resized at a time, so memory holds one chunk of full-size patches


def _positive_or_null(data_cfg, key: str, allow_null: bool) -> None:
    value = data_cfg.get(key)
    if value is None and allow_null:
        return
    if isinstance(value, bool) or not isinstance(value, int) or value < 1:
        allowed = "null or a whole number >= 1" if allow_null else "a whole number >= 1"
        raise ConfigError(f"data.{key}={value!r} is not allowed; use {allowed}")


def _check_config(data_cfg) -> None:
    for key in ("height", "width", "val_subjects"):
        _positive_or_null(data_cfg, key, allow_null=False)
    _positive_or_null(data_cfg, "per_subject", allow_null=True)
    if data_cfg.channels not in (1, 3):
        raise ConfigError(
            f"data.channels={data_cfg.channels!r} is not allowed; use 3 (RGB) or 1 (grey)"
        )


def read_split(root, split_file: str) -> list[str]:
    """The training subjects' file names from the split file, checked."""
    path = existing_path("data.split_file", root / split_file)
    try:
        split = json.loads(path.read_text())
    except json.JSONDecodeError as error:
        raise ConfigError(f"{path} is not valid JSON ({error}); {HELP}") from None
    train = split.get("train") if isinstance(split, dict) else None
    if not isinstance(train, list) or not train or not all(isinstance(n, str) for n in train):
        raise ConfigError(f"{path}: key 'train' must list the training subjects' files; {HELP}")
    return train


def _resize(patches: np.ndarray, data_cfg) -> torch.Tensor:
    """(N, C, height, width) uint8 from (N, H, W, 3) BGR patches."""
    # the published patches are stored BGR (OpenCV's order); the network gets RGB
    images = torch.from_numpy(patches[..., ::-1].copy()).permute(0, 3, 1, 2).float()
    if data_cfg.channels == 1:
        images = (images * torch.tensor([0.299, 0.587, 0.114]).view(1, 3, 1, 1)).sum(1, True)
    size = (data_cfg.height, data_cfg.width)
    if images.shape[-2:] != size:
        images = F.interpolate(images, size=size, mode="bilinear", antialias=True)
    return images.round().clamp(0, 255).to(torch.uint8)


def read_subject(path, data_cfg) -> tuple[torch.Tensor, torch.Tensor]:
    """(images (N, C, height, width) uint8, gaze (N, 2) float32) of one subject's file."""
    with open_h5(path) as file:
        patches = checked_dataset(file, "face_patch", (None, None, None, 3), np.uint8)
        gaze = checked_dataset(file, "face_gaze", (None, 2))
        count = check_same_length(str(path), face_patch=patches, face_gaze=gaze)
        if data_cfg.get("per_subject") is not None:
            count = min(count, data_cfg.per_subject)
        images = [
            _resize(patches[start : min(start + _CHUNK, count)], data_cfg)
            for start in range(0, count, _CHUNK)
        ]
        labels = torch.from_numpy(gaze[:count].astype(np.float32))
    return torch.cat(images), labels


def _as_tensors(parts, data_cfg) -> GazeTensors:
    images = torch.cat([images for images, _ in parts])
    gaze = torch.cat([gaze for _, gaze in parts])
    return GazeTensors(images, gaze, mean=data_cfg.mean, std=data_cfg.std)


def build_eth_xgaze(data_cfg) -> tuple[GazeTensors, GazeTensors]:
    """(train, val): the split's training subjects, less the last `data.val_subjects` for val."""
    _check_config(data_cfg)
    root = existing_path("data.path", data_cfg.path, kind="folder")
    subjects = read_split(root, data_cfg.split_file)
    if data_cfg.val_subjects >= len(subjects):
        raise ConfigError(
            f"data.val_subjects={data_cfg.val_subjects} leaves no training subject "
            f"({len(subjects)} listed); use a number up to {len(subjects) - 1}"
        )
    # check every file exists before the slow reading starts
    paths = [existing_path("data.path", root / "train" / name) for name in subjects]
    parts = [read_subject(path, data_cfg) for path in paths]
    cut = len(parts) - data_cfg.val_subjects
    return _as_tensors(parts[:cut], data_cfg), _as_tensors(parts[cut:], data_cfg)
