"""The in-memory form every data set takes, and the factory over the `data` config group."""

import importlib

import torch
from torch.utils.data import Dataset

from gaze.config_checks import check_subset
from gaze.errors import ConfigError


class GazeTensors(Dataset):
    """Eye images and gaze labels held in memory.

    images: (N, C, H, W) uint8 pixels; gaze: (N, 2) float32 pitch and yaw in radians. Items come
    out as float images normalised with `mean` and `std` (in pixel units, 0-255).
    """

    def __init__(self, images: torch.Tensor, gaze: torch.Tensor, mean: float, std: float):
        if images.dtype != torch.uint8 or images.dim() != 4:
            raise ValueError(
                f"images must be (N, C, H, W) uint8, got {images.dtype} {images.shape}"
            )
        if gaze.shape != (images.shape[0], 2):
            raise ValueError(f"gaze must be ({images.shape[0]}, 2), got {tuple(gaze.shape)}")
        self.images, self.gaze = images, gaze.float()
        self.mean, self.std = mean, std

    def __len__(self) -> int:
        return self.images.shape[0]

    def __getitem__(self, index):
        return self.__getitems__([index])

    def __getitems__(self, indices):
        # one gather and one normalisation per batch, not per sample
        index = torch.as_tensor(indices)
        images = (self.images[index].float() - self.mean) / self.std
        return images, self.gaze[index]

    def subset(self, count: int | None) -> "GazeTensors":
        """The first `count` samples (all of them for None)."""
        if count is None:
            return self
        return GazeTensors(self.images[:count], self.gaze[:count], self.mean, self.std)


# each data set's builder, imported only when chosen: (module, function)
BUILDERS = {
    "synthetic": ("gaze.data.synthetic", "build_synthetic"),
    "mpiigaze": ("gaze.data.mpiigaze", "build_mpiigaze"),
    "eth_xgaze": ("gaze.data.eth_xgaze", "build_eth_xgaze"),
}


def build_datasets(data_cfg) -> tuple[GazeTensors, GazeTensors]:
    """(train, val) for the data set a `data` config group names, train cut to `data.subset`."""
    if data_cfg.name not in BUILDERS:
        raise ConfigError(f"data.name={data_cfg.name!r} is not known; allowed: {sorted(BUILDERS)}")
    module, function = BUILDERS[data_cfg.name]
    train, val = getattr(importlib.import_module(module), function)(data_cfg)
    check_subset(data_cfg.get("subset"), len(train))
    return train.subset(data_cfg.get("subset")), val
