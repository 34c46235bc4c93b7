"""The fault lab: each injected fault is diagnosed by its own finding first, and no other's."""

import re
import subprocess
import sys

import pytest
import torch

from gaze import fault_lab
from gaze.errors import ConfigError
from gaze.faults import FAULTS, careless_dead_zone_loss, check_fault
from gaze.nonfinite import NonFiniteError
from gaze.train import train
from tests.conftest import REPO


def _diagnose(compose_config, tmp_path, fault: str) -> list[str]:
    run_dir = tmp_path / fault_lab.run_name(fault)
    run_dir.mkdir()
    try:
        train(compose_config(fault_lab.lab_overrides(fault)), run_dir)
    except NonFiniteError:
        # a run may stop at its first non-finite value; its diagnosis is written by then
        if fault != "fault=nan_loss":
            raise
    return fault_lab.rules_named(run_dir)


@pytest.mark.slow
def test_each_fault_is_named_first_and_confused_with_no_other(compose_config, tmp_path):
    named = {fault: _diagnose(compose_config, tmp_path, fault) for fault in fault_lab.EXPECTED}
    print("\n" + "\n".join(fault_lab.matrix_lines(named)))
    assert fault_lab.mismatches(named) == []
    assert set(named) == {"none", "init=near_zero", *(f"fault={f}" for f in FAULTS[1:])}


@pytest.mark.slow
def test_the_healthy_and_the_shuffled_labels_verdicts_hold_for_another_seed(
    compose_config, tmp_path
):
    assert _diagnose(compose_config, tmp_path, "train.seed=1") == []
    shuffled = _diagnose(compose_config, tmp_path, "fault=corrupt_labels train.seed=1")
    assert shuffled == ["not_generalizing"]


@pytest.mark.slow
def test_the_fault_lab_script_runs_the_chosen_faults_and_keeps_earlier_results(tmp_path):
    out = tmp_path / "lab"
    script = [sys.executable, str(REPO / "scripts" / "fault_lab.py"), "--out", str(out)]
    chosen = ["--faults", "none", "fault=nan_loss"]
    result = subprocess.run([*script, *chosen], capture_output=True, text=True, timeout=600)
    assert result.returncode == 0, result.stderr
    report = (out / "fault_lab.md").read_text()
    assert "| `none` | . | . | . | . | . | healthy |" in report
    assert "| `fault=nan_loss` | . | . | . | X | . | non_finite |" in report
    assert "Every run as expected." in report
    assert (out / "fault-nan_loss" / "diagnosis.md").exists()

    again = subprocess.run([*script, *chosen], capture_output=True, text=True, timeout=600)
    assert again.returncode == 2
    assert f"error: {out / 'none'} already holds a run's results" in again.stderr
    assert (out / "fault_lab.md").read_text() == report


def test_the_matrix_judges_what_each_run_named():
    named = {
        "none": ["dead_relus"],
        "init=near_zero": ["vanishing_gradients", "near_zero_weights"],
        "fault=lr_too_high": ["vanishing_gradients", "lr_too_high"],
        "fault=corrupt_labels": [],
    }
    assert fault_lab.mismatches(named) == [
        "none: the healthy run was diagnosed with dead_relus",
        "fault=lr_too_high: expected lr_too_high first, got ['vanishing_gradients', 'lr_too_high']",
        "fault=lr_too_high: also named vanishing_gradients",
        "fault=corrupt_labels: expected not_generalizing first, got healthy",
    ]
    table = fault_lab.matrix_markdown(named)
    assert (
        "| `init=near_zero` | X | . | . | . | . | vanishing_gradients, near_zero_weights |" in table
    )


def test_corrupt_labels_shuffles_the_chosen_share_and_keeps_the_label_set(compose_config):
    from gaze.data import build_datasets
    from gaze.faults import inject_data_fault

    cfg = compose_config(["data.train_size=100", "fault=corrupt_labels", "fault.fraction=0.5"])
    clean, _ = build_datasets(cfg.data)
    corrupt = inject_data_fault(clean, cfg.fault)
    moved = (corrupt.gaze != clean.gaze).any(dim=1).sum()
    assert 40 <= moved <= 50  # a shuffled label may land on its own sample
    assert torch.equal(corrupt.gaze.sort(dim=0).values, clean.gaze.sort(dim=0).values)
    assert torch.equal(corrupt.images, clean.images)


def test_the_careless_dead_zone_loss_is_nan_only_within_the_tolerance():
    target = torch.zeros(2, 2)
    far = torch.tensor([[0.5, 0.0], [0.0, 0.4]])
    assert torch.isfinite(careless_dead_zone_loss(far, target, tolerance=0.1))
    near = torch.tensor([[0.5, 0.0], [0.05, 0.0]])
    assert torch.isnan(careless_dead_zone_loss(near, target, tolerance=0.1))


@pytest.mark.parametrize(
    ("overrides", "message"),
    [
        (["fault.name=typo"], "fault.name='typo' is not known; allowed: ('none', "),
        (["fault=corrupt_labels", "fault.fraction=0"], "fault.fraction=0 is not allowed"),
        (["fault=nan_loss", "fault.tolerance_deg=-1"], "fault.tolerance_deg=-1 is not allowed"),
    ],
)
def test_bad_fault_values_are_refused(compose_config, overrides, message):
    with pytest.raises(ConfigError, match=re.escape(message)):
        check_fault(compose_config(overrides).fault)
