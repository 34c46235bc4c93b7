"""Checks of a composed training config, run before any work starts."""

from gaze.errors import ConfigError
from gaze.init import SCHEMES

_POSITIVE_INTS = (
    "train.steps",
    "train.batch_size",
    "train.eval_every",
    "log.every",
    "log.stats_every",
)
_POSITIVE_FLOATS = ("train.lr",)


def _value(cfg, key: str):
    node = cfg
    for part in key.split("."):
        node = node[part]
    return node


def check_config(cfg) -> None:
    """Raises ConfigError naming the first key whose value the run cannot use."""
    for key in _POSITIVE_INTS:
        value = _value(cfg, key)
        if isinstance(value, bool) or not isinstance(value, int) or value < 1:
            raise ConfigError(f"{key}={value!r} is not allowed; use a whole number >= 1")
    for key in _POSITIVE_FLOATS:
        value = _value(cfg, key)
        if isinstance(value, bool) or not isinstance(value, int | float) or not value > 0:
            raise ConfigError(f"{key}={value!r} is not allowed; use a number > 0")

    hist_every = cfg.log.hist_every
    if isinstance(hist_every, bool) or not isinstance(hist_every, int) or hist_every < 1:
        raise ConfigError(f"log.hist_every={hist_every!r} is not allowed; use a whole number >= 1")
    if cfg.init.scheme not in SCHEMES:
        raise ConfigError(f"init.scheme={cfg.init.scheme!r} is not known; allowed: {SCHEMES}")

    subset = cfg.data.get("subset")
    if subset is not None and (
        isinstance(subset, bool) or not isinstance(subset, int) or subset < 1
    ):
        raise ConfigError(f"data.subset={subset!r} is not allowed; use null or a whole number >= 1")


def check_subset(subset, train_size: int) -> None:
    """Raises ConfigError when data.subset asks for more samples than the training set holds."""
    if subset is not None and subset > train_size:
        raise ConfigError(
            f"data.subset={subset} is larger than the training set ({train_size} samples); "
            f"use null or a number up to {train_size}"
        )
