"""The optimiser an `optim` config group names."""

import torch

from gaze.errors import ConfigError


def build_optimizer(optim_cfg, parameters, lr: float) -> torch.optim.Optimizer:
    if optim_cfg.name == "adam":
        return torch.optim.Adam(
            parameters, lr=lr, betas=tuple(optim_cfg.betas), weight_decay=optim_cfg.weight_decay
        )
    if optim_cfg.name == "sgd":
        return torch.optim.SGD(
            parameters, lr=lr, momentum=optim_cfg.momentum, weight_decay=optim_cfg.weight_decay
        )
    raise ConfigError(f"optim.name={optim_cfg.name!r} is not known; allowed: adam, sgd")
