from pathlib import Path

import pytest
from omegaconf import OmegaConf

from tests.conftest import CONF

GROUPS = {g.name: sorted(p.stem for p in g.glob("*.yaml")) for g in CONF.iterdir() if g.is_dir()}


@pytest.mark.parametrize(
    ("group", "option"), [(g, o) for g, options in GROUPS.items() for o in options]
)
def test_every_group_option_composes(compose_config, group, option):
    cfg = compose_config([f"{group}={option}"])
    assert cfg.train.steps > 0
    if group in ("model", "init", "data", "optim"):
        assert cfg[group]


def test_expected_groups_exist():
    assert {"model", "init", "data", "optim", "experiment"} <= set(GROUPS)
    assert {"mobilenetv2", "resnet50"} <= set(GROUPS["model"])
    assert {"default", "kaiming", "xavier", "near_zero", "zeros"} <= set(GROUPS["init"])


def _without_hydra(cfg):
    plain = OmegaConf.to_container(cfg, resolve=False)
    plain.pop("hydra", None)
    return plain


def test_underfit_and_fixed_differ_only_in_init(compose_config):
    underfit = _without_hydra(compose_config(["experiment=underfit"]))
    fixed = _without_hydra(compose_config(["experiment=fixed"]))
    assert underfit["init"]["scheme"] == "near_zero"
    assert fixed["init"]["scheme"] == "kaiming"
    underfit.pop("init"), fixed.pop("init")
    assert underfit == fixed
    assert fixed["model"]["name"] == "mobilenetv2"
    assert fixed["data"]["subset"] == 100


def test_experiment_writes_to_its_reproduce_directory(compose_config):
    cfg = compose_config(["experiment=underfit"], return_hydra_config=True)
    assert Path(cfg.hydra.run.dir) == Path("runs/reproduce/underfit")


def test_command_line_overrides_beat_the_experiment(compose_config):
    cfg = compose_config(["experiment=fixed", "model=resnet50", "data.subset=10"])
    assert cfg.model.name == "resnet50"
    assert cfg.data.subset == 10
    assert cfg.init.scheme == "kaiming"
