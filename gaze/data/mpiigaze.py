"""MPIIGaze in its preprocessed HDF5 layout, split leave-one-person-out.

The file holds one group per person, `p00` .. `p14`, each with `image` (N, 36, 60) uint8 grey
eye patches, `pose` (N, 2) and `gaze` (N, 2) float32 pitch and yaw in radians (right eyes
already mirrored into left eyes). `scripts/preprocess_mpiigaze.py` builds it from the official
download; data/README.md says where to get that.
"""

import numpy as np
import torch

from gaze.data.dataset import GazeTensors
from gaze.data.files import HELP, check_same_length, checked_dataset, existing_path, open_h5
from gaze.errors import ConfigError

PEOPLE = tuple(f"p{number:02d}" for number in range(15))
HEIGHT, WIDTH = 36, 60


def _check_config(data_cfg) -> None:
    person = data_cfg.test_person
    if isinstance(person, bool) or not isinstance(person, int) or person not in range(15):
        raise ConfigError(
            f"data.test_person={person!r} is not allowed; use a person number from 0 to 14"
        )
    if (data_cfg.height, data_cfg.width, data_cfg.channels) != (HEIGHT, WIDTH, 1):
        raise ConfigError(
            f"data.height/width/channels={data_cfg.height}/{data_cfg.width}/{data_cfg.channels}"
            f" is not allowed for MPIIGaze; its patches are {HEIGHT}/{WIDTH}/1 ({HELP})"
        )


def read_person(file, person: str, path) -> tuple[np.ndarray, np.ndarray]:
    """(images (N, 36, 60) uint8, gaze (N, 2) float32) of one person's group, checked."""
    if person not in file:
        raise ConfigError(f"{path}: group {person} is missing (expected p00 .. p14); {HELP}")
    group = file[person]
    where = str(path)
    images = checked_dataset(group, "image", (None, HEIGHT, WIDTH), np.uint8, where)
    gaze = checked_dataset(group, "gaze", (None, 2), where=where)
    pose = checked_dataset(group, "pose", (None, 2), where=where)
    check_same_length(f"{path}: {person}", image=images, gaze=gaze, pose=pose)
    return images[()], gaze[()].astype(np.float32)


def _as_tensors(parts, data_cfg) -> GazeTensors:
    images = torch.from_numpy(np.concatenate([images for images, _ in parts])).unsqueeze(1)
    gaze = torch.from_numpy(np.concatenate([gaze for _, gaze in parts]))
    return GazeTensors(images, gaze, mean=data_cfg.mean, std=data_cfg.std)


def build_mpiigaze(data_cfg) -> tuple[GazeTensors, GazeTensors]:
    """(train, val): every person but `data.test_person`, and that person."""
    _check_config(data_cfg)
    path = existing_path("data.path", data_cfg.path)
    test_person = PEOPLE[data_cfg.test_person]
    with open_h5(path) as file:
        # read every group first, so a broken one fails before anything is built
        parts = {person: read_person(file, person, path) for person in PEOPLE}
    train = _as_tensors([parts[p] for p in PEOPLE if p != test_person], data_cfg)
    return train, _as_tensors([parts[test_person]], data_cfg)
