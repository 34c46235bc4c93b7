"""Checks of a composed training config, run before any work starts."""

import difflib
from pathlib import Path

import timm

from gaze.errors import ConfigError, exit_with_error
from gaze.init import SCHEMES

CONF_DIR = Path(__file__).resolve().parents[1] / "conf"

_POSITIVE_INTS = (
    "train.steps",
    "train.batch_size",
    "train.eval_every",
    "train.ckpt_every",
    "log.every",
    "log.stats_every",
    "log.hist_every",
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

    if not isinstance(cfg.train.resume, bool):
        raise ConfigError(f"train.resume={cfg.train.resume!r} is not allowed; use true or false")
    check_timm_name(cfg.model.timm_name)
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


def check_timm_name(name: str) -> None:
    """Raises ConfigError when timm has no model called `name`, suggesting the nearest names."""
    if timm.is_model(name):
        return
    near = difflib.get_close_matches(name, timm.list_models(), n=3, cutoff=0.6)
    hint = f"did you mean {', '.join(near)}?" if near else "see timm.list_models()"
    raise ConfigError(f"model.timm_name={name!r} is not a timm model; {hint}")


def group_options(conf_dir: Path = CONF_DIR) -> dict[str, list[str]]:
    """The options of every config group under `conf_dir`: {group: [option, ...]}."""
    return {
        group.name: sorted(p.stem for p in group.glob("*.yaml"))
        for group in sorted(conf_dir.iterdir())
        if group.is_dir()
    }


def check_group_choices(overrides: list[str], conf_dir: Path = CONF_DIR) -> None:
    """Raises ConfigError for a command-line override choosing an option its group lacks.

    Hydra itself reports this in several lines; this says it in one, before Hydra composes.
    Groups this repository does not define (hydra/launcher=..., plugins) are left to Hydra.
    """
    from hydra.core.override_parser.overrides_parser import OverridesParser
    from hydra.core.override_parser.types import ValueType

    options = group_options(conf_dir)
    for override in OverridesParser.create().parse_overrides(overrides):
        group = override.key_or_group
        if group not in options or override.is_delete():
            continue
        if override.value_type == ValueType.ELEMENT:
            chosen = [override.value()]
        elif override.value_type == ValueType.SIMPLE_CHOICE_SWEEP:
            chosen = list(override.sweep_string_iterator())
        else:
            continue  # glob and range sweeps pick among the existing options
        for value in chosen:
            if value is not None and str(value) not in options[group]:
                raise ConfigError(
                    f"{group}={value} is not an option of config group {group}; "
                    f"allowed: {', '.join(options[group])}"
                )


def check_group_choices_or_exit(argv: list[str]) -> None:
    """check_group_choices over a command line, ending the process with one line on failure."""
    from hydra._internal.utils import get_args_parser
    from hydra.errors import HydraException

    if "--version" in argv:
        return  # argparse would print the version here, then Hydra again
    try:
        overrides = get_args_parser().parse_known_args(argv)[0].overrides
        check_group_choices(overrides)
    except ConfigError as error:
        exit_with_error(str(error))
    except (HydraException, SystemExit):
        pass  # a malformed command line: Hydra's own parser reports it next
