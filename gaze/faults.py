"""The fault lab: known causes of a failing run, injected by the `fault` config group.

`unnormalized_input` and `lr_too_high` are plain config overrides (conf/fault/*.yaml); the two
below need code: labels shuffled among the training samples, and a loss that can yield NaN.
"""

import math

import torch

from gaze.data import GazeTensors
from gaze.errors import ConfigError
from gaze.loss import l2_gaze_loss

FAULTS = ("none", "unnormalized_input", "corrupt_labels", "nan_loss", "lr_too_high")


def check_fault(fault_cfg) -> None:
    """Raises ConfigError naming the `fault.*` value the run cannot use."""
    if fault_cfg.name not in FAULTS:
        raise ConfigError(f"fault.name={fault_cfg.name!r} is not known; allowed: {FAULTS}")
    if fault_cfg.name == "corrupt_labels":
        fraction = fault_cfg.fraction
        if isinstance(fraction, bool) or not isinstance(fraction, int | float):
            fraction = None
        if fraction is None or not 0 < fraction <= 1:
            raise ConfigError(
                f"fault.fraction={fault_cfg.fraction!r} is not allowed; use a number in (0, 1]"
            )
    if fault_cfg.name == "nan_loss":
        tolerance = fault_cfg.tolerance_deg
        if isinstance(tolerance, bool) or not isinstance(tolerance, int | float) or tolerance <= 0:
            raise ConfigError(
                f"fault.tolerance_deg={tolerance!r} is not allowed; use a number > 0 (degrees)"
            )


def shuffle_labels(train_set: GazeTensors, fraction: float, seed: int) -> GazeTensors:
    """A copy of `train_set` whose labels, on `fraction` of its samples, are permuted among them."""
    generator = torch.Generator().manual_seed(seed)
    count = round(fraction * len(train_set))
    chosen = torch.randperm(len(train_set), generator=generator)[:count]
    gaze = train_set.gaze.clone()
    gaze[chosen] = train_set.gaze[chosen[torch.randperm(count, generator=generator)]]
    return GazeTensors(train_set.images, gaze, train_set.mean, train_set.std)


def inject_data_fault(train_set: GazeTensors, fault_cfg) -> GazeTensors:
    """The training set as the fault leaves it (unchanged unless fault=corrupt_labels)."""
    if fault_cfg.name == "corrupt_labels":
        return shuffle_labels(train_set, fault_cfg.fraction, fault_cfg.get("seed", 0))
    return train_set


def careless_dead_zone_loss(
    predicted: torch.Tensor, target: torch.Tensor, tolerance: float
) -> torch.Tensor:
    """The nan_loss fault: L2 loss minus a dead zone of `tolerance` radians, without a clamp.

    sqrt(d**2 - tolerance**2) is NaN for every sample predicted closer than the tolerance; the
    careful form is sqrt(clamp(d**2 - tolerance**2, min=0)).
    """
    squared = (predicted - target).square().sum(dim=-1)
    return torch.sqrt(squared - tolerance**2).mean()


def build_loss(fault_cfg):
    """The training loss: gaze.loss.l2_gaze_loss, unless fault=nan_loss replaces it."""
    if fault_cfg.name == "nan_loss":
        tolerance = math.radians(fault_cfg.tolerance_deg)
        return lambda predicted, target: careless_dead_zone_loss(predicted, target, tolerance)
    return l2_gaze_loss
