"""The fault lab's matrix: one short run per injected fault, and the findings that named each.

`scripts/fault_lab.py` (`make fault-lab`) runs it through the command line and
tests/test_fault_lab.py in-process; both read and judge the runs with the functions here.
"""

import json
from pathlib import Path

# short runs of the fixed experiment; the diagnosis looks at windows of 16 steps after 16, and
# at validation passes over 128 samples every 30 steps
LAB_OVERRIDES = [
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

# each injected fault (its override), and the finding that should name it; none: the healthy run
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
SIGNATURES = [rule for rule in EXPECTED.values() if rule]


def lab_overrides(fault: str) -> list[str]:
    """The overrides of the lab run of `fault`: a key of EXPECTED, or overrides split by spaces."""
    return LAB_OVERRIDES if fault == "none" else [*LAB_OVERRIDES, *fault.split()]


def run_name(fault: str) -> str:
    """A directory name for the lab run of `fault`."""
    return fault.replace("=", "-").replace(" ", "_")


def rules_named(run_dir: Path) -> list[str]:
    """The rules a run's diagnosis.json lists, causes first."""
    diagnosis = json.loads((Path(run_dir) / "diagnosis.json").read_text())
    return [finding["rule"] for finding in diagnosis["findings"]]


def mismatches(named: dict[str, list[str]]) -> list[str]:
    """What went wrong, one line per fault: not named first by its finding, or by another's."""
    problems = []
    for fault, rules in named.items():
        expected = EXPECTED[fault]
        if expected is None:
            if rules:
                problems.append(f"{fault}: the healthy run was diagnosed with {', '.join(rules)}")
            continue
        if not rules or rules[0] != expected:
            problems.append(f"{fault}: expected {expected} first, got {rules or 'healthy'}")
        others = sorted((set(SIGNATURES) - {expected}) & set(rules))
        if others:
            problems.append(f"{fault}: also named {', '.join(others)}")
    return problems


def matrix_lines(named: dict[str, list[str]]) -> list[str]:
    """The confusion matrix as text: faults down, the signature findings across."""
    width = max(len(s) for s in SIGNATURES)
    lines = [" " * 26 + " ".join(s.rjust(width) for s in SIGNATURES)]
    for fault, rules in named.items():
        cells = " ".join(("X" if s in rules else ".").rjust(width) for s in SIGNATURES)
        lines.append(f"{fault:>25} {cells}   all: {', '.join(rules) or 'healthy'}")
    return lines


def matrix_markdown(named: dict[str, list[str]]) -> str:
    """The confusion matrix as a markdown table."""
    lines = [
        "| injected | " + " | ".join(f"`{s}`" for s in SIGNATURES) + " | everything named |",
        "|---" * (len(SIGNATURES) + 2) + "|",
    ]
    for fault, rules in named.items():
        cells = " | ".join("X" if s in rules else "." for s in SIGNATURES)
        lines.append(f"| `{fault}` | {cells} | {', '.join(rules) or 'healthy'} |")
    return "\n".join(lines) + "\n"
