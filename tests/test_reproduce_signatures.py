"""The story, end to end through the real command line: the underfit run and the fixed run."""

import json
import math

import pandas as pd
import pytest

from tests.conftest import run_cli

# the steps of `make reproduce`: with the eye renderer the fixed run needs them all
STEPS = 300
# each metrics.csv row is one batch's loss, which varies by several percent from batch to
# batch with 100 spread-out labels; the start and end of a run are compared as means of rows
WINDOW = 10


def _start_and_end(loss: pd.Series) -> tuple[float, float]:
    return loss.iloc[:WINDOW].mean(), loss.iloc[-WINDOW:].mean()


def _run(tmp_path, experiment: str, seed: int):
    run_dir = tmp_path / f"{experiment}-{seed}"
    result = run_cli(
        f"experiment={experiment}",
        f"train.seed={seed}",
        f"train.steps={STEPS}",
        f"hydra.run.dir={run_dir}",
        cwd=tmp_path,
    )
    assert result.returncode == 0, result.stderr[-2000:]
    metrics = pd.read_csv(run_dir / "metrics.csv")
    return metrics, json.loads((run_dir / "summary.json").read_text()), run_dir


def _diagnosis(run_dir) -> dict:
    return json.loads((run_dir / "diagnosis.json").read_text())


def _backbone_grad_norm(metrics: pd.DataFrame) -> pd.Series:
    columns = [c for c in metrics if c.startswith("grad_norm/backbone.")]
    return (metrics[columns] ** 2).sum(axis=1) ** 0.5


@pytest.mark.slow
@pytest.mark.parametrize("seed", [0, 1])
def test_underfit_run_stays_flat_with_near_zero_fc2_and_no_backbone_gradient(tmp_path, seed):
    metrics, _, run_dir = _run(tmp_path, "underfit", seed)
    start, end = _start_and_end(metrics["train/loss"].dropna())
    assert abs(end - start) <= 0.10 * start
    fc2 = metrics["weight_norm/fc2.weight"]
    assert (fc2 / math.sqrt(2 * 128)).max() < 1e-4  # RMS bounds the mean absolute value
    assert _backbone_grad_norm(metrics).max() < 1e-8

    # the diagnosis names the story: vanishing gradients, fc2 near zero, loss at the baseline
    findings = {f["rule"]: f for f in _diagnosis(run_dir)["findings"]}
    assert list(findings)[0] == "vanishing_gradients"
    assert {"near_zero_weights", "loss_at_baseline"} <= set(findings)
    assert findings["near_zero_weights"]["symptom"] == "near-zero weights at fc2"
    assert findings["vanishing_gradients"]["fix"] == "init=kaiming"
    assert (metrics["train/baseline_loss"] - end).abs().max() < 0.05 * end


@pytest.mark.slow
@pytest.mark.parametrize("seed", [0, 1])
def test_fixed_run_converges_with_live_gradients(tmp_path, seed):
    metrics, summary, run_dir = _run(tmp_path, "fixed", seed)
    loss = metrics["train/loss"].dropna()
    start, end = _start_and_end(loss)
    assert end < 0.1 * start
    assert summary["train/loss"] == pytest.approx(loss.iloc[-1])
    assert (_backbone_grad_norm(metrics) > 1e-3).all()
    assert (metrics["grad_norm/fc2.weight"] > 1e-3).all()
    diagnosis = _diagnosis(run_dir)
    assert diagnosis["verdict"] == "healthy", diagnosis["findings"]
    assert (run_dir / "diagnosis.md").read_text().splitlines()[2].startswith("**Healthy**")
