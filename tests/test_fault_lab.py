"""The fault lab: each injected fault is diagnosed by its own finding first, and no other's."""

import json
import re

import pytest
import torch

from gaze.errors import ConfigError
from gaze.faults import careless_dead_zone_loss, check_fault
from gaze.train import train

# short runs of the fixed experiment; the diagnosis looks at windows of 16 steps after 16, and
# at validation passes over 128 samples every 30 steps
LAB = [
    "experiment=fixed",
    "data.train_size=100",
    "data.val_size=128",
    "train.batch_size=16",
    "train.steps=60",
    "train.eval_every=30",
    "log.every=10",
    "log.hist_every=30",
    "diagnose.every=4",
    "diagnose.window=16",
    "diagnose.warmup_steps=16",
]

# each fault, and the finding that names it
EXPECTED = {
    "none": None,
    "init=near_zero": "vanishing_gradients",
    "fault=unnormalized_input": "input_not_normalized",
    # the network memorises 100 shuffled labels about as fast as true ones, so only the
    # validation pass tells them apart
    "fault=corrupt_labels": "not_generalizing",
    "fault=nan_loss": "non_finite",
    "fault=lr_too_high": "lr_too_high",
}
SIGNATURES = [s for s in EXPECTED.values() if s]


def _diagnose(compose_config, tmp_path, fault: str) -> list[str]:
    overrides = LAB if fault == "none" else [*LAB, *fault.split()]
    run_dir = tmp_path / fault.replace("=", "-").replace(" ", "_")
    run_dir.mkdir()
    try:
        train(compose_config(overrides), run_dir)
    except Exception:
        # a run may stop at its first non-finite value; its diagnosis is written by then
        if fault != "fault=nan_loss":
            raise
    diagnosis = json.loads((run_dir / "diagnosis.json").read_text())
    return [finding["rule"] for finding in diagnosis["findings"]]


@pytest.mark.slow
def test_each_fault_is_named_first_and_confused_with_no_other(compose_config, tmp_path):
    named = {fault: _diagnose(compose_config, tmp_path, fault) for fault in EXPECTED}

    # the confusion matrix: faults down, the findings that name them across
    width = max(len(s) for s in SIGNATURES)
    print("\n" + " " * 26 + " ".join(s[:width].rjust(width) for s in SIGNATURES))
    for fault, rules in named.items():
        cells = " ".join(("X" if s in rules else ".").rjust(width) for s in SIGNATURES)
        print(f"{fault:>25} {cells}   all: {', '.join(rules) or 'healthy'}")

    for fault, expected in EXPECTED.items():
        rules = named[fault]
        if expected is None:
            assert rules == [], f"the healthy run was diagnosed with {rules}"
            continue
        assert rules and rules[0] == expected, f"{fault}: {rules}"
        others = set(SIGNATURES) - {expected}
        assert not others & set(rules), f"{fault} also named {others & set(rules)}"


@pytest.mark.slow
def test_the_healthy_and_the_shuffled_labels_verdicts_hold_for_another_seed(
    compose_config, tmp_path
):
    assert _diagnose(compose_config, tmp_path, "train.seed=1") == []
    shuffled = _diagnose(compose_config, tmp_path, "fault=corrupt_labels train.seed=1")
    assert shuffled == ["not_generalizing"]


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
