"""Bad input fails before any work, in one line naming the key, the value and what is allowed."""

import pytest

from gaze.config_checks import check_group_choices, group_options
from gaze.errors import ConfigError
from gaze.train import train
from tests.conftest import TINY, run_cli


@pytest.mark.parametrize("group", sorted(group_options()))
def test_an_unknown_option_of_any_group_is_named_with_the_allowed_ones(group):
    allowed = ", ".join(group_options()[group])
    for override in (f"{group}=nonexistent", f"+{group}=nonexistent"):
        with pytest.raises(ConfigError) as raised:
            check_group_choices([override])
        assert str(raised.value) == (
            f"{group}=nonexistent is not an option of config group {group}; allowed: {allowed}"
        )


def test_sweeps_are_checked_and_other_overrides_left_to_hydra():
    with pytest.raises(ConfigError, match="init=kaimin is not an option of config group init"):
        check_group_choices(["init=kaiming,kaimin"])
    check_group_choices(
        ["model=resnet50", "init=glob(*)", "~experiment", "hydra/launcher=joblib", "train.lr=3"]
    )


def test_cli_reports_an_unknown_group_option_in_one_line_and_writes_nothing(tmp_path):
    run_dir = tmp_path / "run"
    result = run_cli(*TINY, "model=resnet5", f"hydra.run.dir={run_dir}", cwd=tmp_path)
    assert result.returncode == 2
    assert result.stderr.strip().splitlines() == [
        "error: model=resnet5 is not an option of config group model; "
        "allowed: mobilenetv2, resnet50"
    ]
    assert not run_dir.exists()


@pytest.mark.parametrize(
    ("override", "message"),
    [
        ("model.timm_name=mobilenetv2_10", "model.timm_name='mobilenetv2_10' is not a timm model; "
         "did you mean mobilenetv2_1"),
        ("model.timm_name=no_such_net_at_all", "model.timm_name='no_such_net_at_all' is not a timm "
         "model; see timm.list_models()"),
        ("train.ckpt_every=0", "train.ckpt_every=0 is not allowed; use a whole number >= 1"),
        ("train.resume=maybe", "train.resume='maybe' is not allowed; use true or false"),
        ("train.steps=-5", "train.steps=-5 is not allowed"),
        ("train.batch_size=0", "train.batch_size=0 is not allowed"),
        ("train.lr=0", "train.lr=0 is not allowed; use a number > 0"),
        ("log.hist_every=-1", "log.hist_every=-1 is not allowed"),
        ("data.subset=-3", "data.subset=-3 is not allowed"),
        ("data.subset=1000", "data.subset=1000 is larger than the training set (64 samples)"),
    ],
)  # fmt: skip
def test_bad_values_fail_in_one_line_before_training(compose_config, tmp_path, override, message):
    with pytest.raises(ConfigError) as raised:
        train(compose_config([*TINY, override]), tmp_path)
    assert message in str(raised.value) and "\n" not in str(raised.value)
    assert list(tmp_path.iterdir()) == []
