"""The diagnosis rules on synthetic statistics: each fires when it should and stays quiet else."""

import json
import math

import pytest
import torch

from gaze.data import GazeTensors
from gaze.diagnose import Diagnosis, check_diagnose_config
from gaze.errors import ConfigError
from gaze.monitor import ParameterStats
from gaze.recorder import TrainingRecorder

# a small network, input side first: conv kernel, its norm scale, fc1, fc2 and fc2's bias
NAMES = ["conv.weight", "bn.weight", "fc1.weight", "fc2.weight", "fc2.bias"]
SHAPES = [(8, 1, 3, 3), (8,), (16, 8), (2, 16), (2,)]
DATA = {"baseline_loss": 0.40, "input_mean": 0.1, "input_std": 0.9}


@pytest.fixture
def diagnose_cfg(compose_config):
    return compose_config([]).diagnose


def healthy_stats(**changes) -> ParameterStats:
    """Statistics of a healthy step; keyword arguments replace (P,) rows."""
    values = {
        "grad_norm": [0.5, 0.1, 0.8, 0.3, 0.1],
        "grad_abs_mean": [1e-2, 1e-2, 1e-2, 1e-2, 5e-2],
        "grad_zero_fraction": [0.0, 0.0, 0.1, 0.0, 0.0],
        "weight_norm": [3.0, 2.8, 1.5, 0.7, 0.0],
        "weight_std": [0.4, 0.05, 0.1, 0.12, 0.0],
        "update_ratio": [1e-3, 1e-3, 5e-3, 4e-3, 0.5],
    }
    values.update(changes)
    rows = {k: (None if v is None else torch.tensor(v, dtype=torch.float64))
            for k, v in values.items()}  # fmt: skip
    return ParameterStats(names=NAMES, **rows)


def run_rules(cfg, steps=60, loss=lambda step: 0.9 * 0.97**step, stats=None, lr=1e-3):
    """Feeds `steps` statistics steps (`stats`: one ParameterStats, or a function of the step)."""
    diagnosis = Diagnosis(cfg, NAMES, SHAPES, lr, DATA)
    for step in range(1, steps + 1):
        current = stats(step) if callable(stats) else (stats or healthy_stats())
        diagnosis.observe(step, loss(step), current)
    diagnosis.finish()
    return diagnosis


def rules(diagnosis) -> list[str]:
    return [f.rule for f in diagnosis.ordered_findings()]


def test_a_healthy_run_says_so(diagnose_cfg, tmp_path):
    diagnosis = run_rules(diagnose_cfg, stats=lambda step: healthy_stats())
    assert rules(diagnosis) == []
    diagnosis.write(tmp_path)
    assert json.loads((tmp_path / "diagnosis.json").read_text())["verdict"] == "healthy"
    assert (tmp_path / "diagnosis.md").read_text().splitlines()[2].startswith("**Healthy**")


def test_a_converged_flat_loss_is_not_a_plateau(diagnose_cfg):
    assert rules(run_rules(diagnose_cfg, loss=lambda step: 0.05)) == []


def test_the_underfit_signature(diagnose_cfg):
    zero = healthy_stats(
        grad_norm=[0.0, 0.0, 0.0, 0.0, 0.02],
        grad_zero_fraction=[1.0, 1.0, 1.0, 1.0, 0.0],
        weight_norm=[1e-5, 2.8, 1e-5, 6e-6, 0.3],
        weight_std=[1e-6, 0.0, 1e-6, 1e-6, 0.01],
        update_ratio=[0.0, 0.0, 0.0, 0.0, 3e-3],
    )
    diagnosis = run_rules(diagnose_cfg, loss=lambda step: 0.403, stats=zero)
    assert rules(diagnosis) == ["vanishing_gradients", "near_zero_weights", "loss_at_baseline"]
    vanishing, near_zero, _ = diagnosis.ordered_findings()
    assert "4 of 5 gradient tensors (80%)" in vanishing.evidence
    assert "from conv.weight to fc2.weight" in vanishing.evidence
    assert near_zero.symptom == "near-zero weights at fc2" and near_zero.fix == "init=kaiming"
    assert vanishing.first_step == 1 and vanishing.active


def test_vanishing_by_the_first_to_last_layer_ratio_alone(diagnose_cfg):
    stats = healthy_stats(grad_norm=[1e-5, 0.1, 0.8, 0.3, 0.1])
    assert "vanishing_gradients" in rules(run_rules(diagnose_cfg, stats=stats))
    fine = healthy_stats(grad_norm=[1e-2, 0.1, 0.8, 0.3, 0.1])
    assert rules(run_rules(diagnose_cfg, stats=fine)) == []


def test_exploding_gradients_by_ratio_and_by_size(diagnose_cfg):
    by_ratio = healthy_stats(grad_norm=[30.0, 0.1, 0.8, 0.3, 0.1])
    assert rules(run_rules(diagnose_cfg, stats=by_ratio))[0] == "exploding_gradients"
    by_size = healthy_stats(grad_norm=[5e3, 0.1, 0.8, 200.0, 0.1])
    assert rules(run_rules(diagnose_cfg, stats=by_size))[0] == "exploding_gradients"


def test_one_noisy_step_decides_nothing(diagnose_cfg):
    def spiky(step):
        return healthy_stats(grad_norm=[5e3, 0.1, 0.8, 0.3, 0.1]) if step == 7 else healthy_stats()

    assert rules(run_rules(diagnose_cfg, stats=spiky)) == []


def test_non_finite_names_the_first_parameter_at_once(diagnose_cfg, tmp_path):
    diagnosis = Diagnosis(diagnose_cfg, NAMES, SHAPES, 1e-3, DATA)
    diagnosis.observe(1, 0.5, healthy_stats())
    bad = healthy_stats(grad_norm=[0.5, 0.1, math.nan, math.nan, math.inf])
    new = diagnosis.observe(2, 0.5, bad)  # not a check step: found anyway
    assert [f.rule for f in new] == ["non_finite"]
    assert "first parameter affected: fc1.weight" in new[0].evidence
    assert "3 of 5 gradients" in new[0].evidence and "finite loss" in new[0].symptom
    nan_loss = diagnosis.observe(3, math.nan, healthy_stats(weight_norm=[math.nan] * 5))
    assert nan_loss == [] and rules(diagnosis) == ["non_finite"]
    kept = diagnosis.ordered_findings()[0]
    assert "first parameter affected: fc1.weight" in kept.evidence
    assert (kept.first_step, kept.last_step) == (2, 3)


def test_dead_relus_but_not_when_the_gradient_is_all_zero(diagnose_cfg):
    dead = healthy_stats(grad_zero_fraction=[0.0, 0.0, 0.95, 0.0, 0.0])
    diagnosis = run_rules(diagnose_cfg, stats=dead, loss=lambda step: 0.35)
    assert rules(diagnosis) == ["dead_relus"]  # and they explain the flat loss
    assert "fc1.weight 95%" in diagnosis.ordered_findings()[0].evidence
    below = healthy_stats(grad_zero_fraction=[0.0, 0.0, 0.8, 0.0, 0.0])
    assert rules(run_rules(diagnose_cfg, stats=below, loss=lambda step: 0.9 - 0.01 * step)) == []
    # a network that fits with few live units is not reported
    assert rules(run_rules(diagnose_cfg, stats=dead, loss=lambda step: 0.1 * 0.99**step)) == []


def noisy(level: float, slope: float = 0.0, spread: float = 0.05):
    """A loss around `level` (falling by `slope` a step) with deterministic batch-to-batch noise."""
    return lambda step: level - slope * step + spread * ((step * 7919) % 13 / 6 - 1)


def test_a_noisy_loss_is_not_called_stalled_on_one_unlucky_half(diagnose_cfg):
    dead = healthy_stats(grad_zero_fraction=[0.0, 0.0, 0.95, 0.0, 0.0])
    # still learning, with most of fc1 silent on each batch: sparse, not dead
    assert rules(run_rules(diagnose_cfg, stats=dead, loss=noisy(0.32, slope=5e-4))) == []
    # the same noise around a loss that really is flat is still seen as flat
    flat = run_rules(diagnose_cfg, loss=noisy(0.30, spread=0.002))
    assert rules(flat) == ["loss_not_decreasing"]
    assert "noise +-" in flat.ordered_findings()[0].evidence


VALIDATED = {**DATA, "val_baseline_loss": 0.41, "val_size": 128}


def run_validated(cfg, correlation, loss=lambda step: 0.9 * 0.97**step, val_step=40, steps=60):
    """Like run_rules, with one validation pass of the given gaze correlation at `val_step`."""
    diagnosis = Diagnosis(cfg, NAMES, SHAPES, 1e-3, VALIDATED)
    for step in range(1, steps + 1):
        if step == val_step:
            metrics = {"loss": 0.45, "angular_error_deg": 25.0, "gaze_correlation": correlation}
            diagnosis.observe_validation(step, metrics)
        diagnosis.observe(step, loss(step), healthy_stats())
    diagnosis.finish()
    return diagnosis


def test_not_generalizing_when_validation_predictions_are_chance(diagnose_cfg):
    diagnosis = run_validated(diagnose_cfg, correlation=0.03)
    assert rules(diagnosis) == ["not_generalizing"]
    finding = diagnosis.ordered_findings()[0]
    assert "correlation 0.03 at step 40 over 128 samples" in finding.evidence
    assert "<= 0.12" in finding.evidence  # 2 / sqrt(2 * 128)
    assert finding.first_step == 40
    # predictions that follow the labels, even weakly but beyond chance, generalise
    generalizing = run_validated(diagnose_cfg, correlation=0.2)
    assert rules(generalizing) == []
    assert (
        "Validation at step 40: loss 0.4500 against its baseline 0.4100, gaze correlation 0.20 "
        "(chance up to 0.12)." in generalizing.markdown()
    )


def test_not_generalizing_needs_a_training_loss_below_baseline_and_a_late_enough_pass(
    diagnose_cfg,
):
    # a network that learns nothing at all is at the baseline, not memorising
    at_baseline = run_validated(diagnose_cfg, correlation=0.0, loss=noisy(0.40, spread=0.004))
    assert "not_generalizing" not in rules(at_baseline)
    assert "loss_at_baseline" in rules(at_baseline)
    # a pass during the warmup says nothing yet (warmup_steps is 40)
    assert rules(run_validated(diagnose_cfg, correlation=0.0, val_step=30)) == []
    # without a validation pass the rule stays quiet
    assert rules(run_rules(diagnose_cfg)) == []


def test_learning_rate_too_high_or_too_low_from_update_ratios(diagnose_cfg):
    high = healthy_stats(update_ratio=[0.3, 0.2, 0.5, 0.4, 1.0])
    diagnosis = run_rules(diagnose_cfg, stats=high, lr=0.1)
    assert rules(diagnosis) == ["lr_too_high"]
    assert diagnosis.ordered_findings()[0].fix == "train.lr=0.003"
    low = healthy_stats(update_ratio=[1e-7, 1e-7, 2e-7, 1e-7, 1e-6])
    diagnosis = run_rules(diagnose_cfg, stats=low, lr=1e-6)
    assert rules(diagnosis) == ["lr_too_low"]
    assert diagnosis.ordered_findings()[0].fix == "train.lr=1e-05"


def test_update_ratios_missing_on_some_steps_are_skipped(diagnose_cfg):
    def sometimes(step):
        return healthy_stats(update_ratio=None if step % 3 else [0.3, 0.2, 0.5, 0.4, 1.0])

    assert rules(run_rules(diagnose_cfg, stats=sometimes)) == ["lr_too_high"]
    assert rules(run_rules(diagnose_cfg, stats=healthy_stats(update_ratio=None))) == []


def test_loss_at_baseline_and_loss_not_decreasing(diagnose_cfg):
    at_baseline = run_rules(diagnose_cfg, loss=lambda step: 0.41 + 0.005 * (-1) ** step)
    assert rules(at_baseline) == ["loss_not_decreasing", "loss_at_baseline"]
    stalled = run_rules(diagnose_cfg, loss=lambda step: 0.30)
    assert rules(stalled) == ["loss_not_decreasing"]
    # a falling loss that passes through the baseline does not sit at it
    passing = run_rules(diagnose_cfg, steps=50, loss=lambda step: 0.9 - 0.015 * step)
    assert rules(passing) == []


def test_loss_rules_wait_for_the_warmup(diagnose_cfg):
    short = run_rules(diagnose_cfg, steps=diagnose_cfg.warmup_steps - 1, loss=lambda step: 0.41)
    assert rules(short) == []


def test_input_not_normalized(diagnose_cfg):
    diagnosis = Diagnosis(diagnose_cfg, NAMES, SHAPES, 1e-3, {**DATA, "input_mean": 150.0})
    diagnosis.observe(1, 0.5, healthy_stats())
    assert rules(diagnosis) == ["input_not_normalized"]
    assert "mean 150" in diagnosis.ordered_findings()[0].evidence


@pytest.mark.parametrize(
    ("override", "message"),
    [
        ("diagnose.every=0", "diagnose.every=0 is not allowed; use a whole number >= 1"),
        ("diagnose.window=2", "diagnose.window=2 is not allowed; use >= 4"),
        ("diagnose.vanishing_grad_norm=-1", "diagnose.vanishing_grad_norm=-1 is not allowed"),
        ("diagnose.dead_zero_fraction=1.5", "diagnose.dead_zero_fraction=1.5 is not allowed"),
        ("diagnose.update_ratio_low=1", "diagnose.update_ratio_low=1 is not allowed"),
    ],
)
def test_bad_thresholds_are_refused(compose_config, override, message):
    with pytest.raises(ConfigError, match=message):
        check_diagnose_config(compose_config([override]).diagnose)


def test_a_run_that_stops_at_a_nan_still_leaves_its_diagnosis(compose_config, tmp_path):
    cfg = compose_config([])
    model = torch.nn.Sequential(torch.nn.Linear(3, 4), torch.nn.ReLU(), torch.nn.Linear(4, 2))
    images = torch.randint(0, 255, (8, 1, 2, 2), dtype=torch.uint8)
    train_set = GazeTensors(images, torch.rand(8, 2), mean=127.0, std=64.0)
    recorder = TrainingRecorder(
        model, tmp_path, cfg.log, 10, torch.device("cpu"),
        diagnosis=Diagnosis.for_run(cfg.diagnose, model, train_set, 1e-3),
    )  # fmt: skip
    loss = model(torch.ones(2, 3)).sum() * math.nan
    loss.backward()

    # what the loop's stop path calls before it raises
    recorder.diagnose_stop(3, loss.item())
    report = json.loads((tmp_path / "diagnosis.json").read_text())
    assert [f["rule"] for f in report["findings"]] == ["non_finite"]
    assert "first parameter affected: 0.weight" in report["findings"][0]["evidence"]
    assert (tmp_path / "diagnosis.md").read_text().startswith("# Diagnosis")
    recorder.close()
