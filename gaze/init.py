"""Weight-initialisation schemes, applied to every layer of the network with torch.nn.init."""

from functools import partial

from torch import nn

_CONV_LINEAR = (nn.Conv1d, nn.Conv2d, nn.Conv3d, nn.Linear)
_NORM = (nn.modules.batchnorm._BatchNorm, nn.GroupNorm, nn.LayerNorm)


def _zero_bias(module: nn.Module) -> None:
    if getattr(module, "bias", None) is not None:
        nn.init.zeros_(module.bias)


def _reset_norm(module: nn.Module) -> None:
    if getattr(module, "weight", None) is not None:
        nn.init.ones_(module.weight)
    _zero_bias(module)


def _kaiming(module: nn.Module) -> None:
    if isinstance(module, _CONV_LINEAR):
        nn.init.kaiming_uniform_(module.weight, nonlinearity="relu")
        _zero_bias(module)
    elif isinstance(module, _NORM):
        _reset_norm(module)


def _xavier(module: nn.Module) -> None:
    if isinstance(module, _CONV_LINEAR):
        nn.init.xavier_uniform_(module.weight)
        _zero_bias(module)
    elif isinstance(module, _NORM):
        _reset_norm(module)


def _near_zero(module: nn.Module, std: float) -> None:
    # the failure of the story: weights so small that every activation, and with it every
    # weight gradient, is about 0; normalisation layers keep their library defaults
    if isinstance(module, _CONV_LINEAR):
        nn.init.normal_(module.weight, mean=0.0, std=std)
        _zero_bias(module)


def _zeros(module: nn.Module) -> None:
    if isinstance(module, _CONV_LINEAR):
        nn.init.zeros_(module.weight)
        _zero_bias(module)


SCHEMES = ("default", "kaiming", "xavier", "near_zero", "zeros")


def apply_init(model: nn.Module, init_cfg) -> nn.Module:
    """Re-initialises `model` in place with the scheme an `init` config group names."""
    scheme = init_cfg.scheme
    if scheme == "default":
        return model
    per_module = {
        "kaiming": _kaiming,
        "xavier": _xavier,
        "near_zero": partial(_near_zero, std=init_cfg.get("std", 1e-6)),
        "zeros": _zeros,
    }.get(scheme)
    if per_module is None:
        raise ValueError(f"init.scheme={scheme!r} is not known; allowed: {', '.join(SCHEMES)}")
    return model.apply(per_module)
