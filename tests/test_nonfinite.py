"""A NaN or Inf stops the run at its step, names where it is, and keeps the last good state."""

import itertools
import math

import pandas as pd
import pytest
import torch
from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

import gaze.train
from gaze.checkpoint import load_checkpoint
from gaze.loss import l2_gaze_loss
from gaze.nonfinite import NonFiniteError
from tests.conftest import TINY, run_cli

# statistics every step, so the stop comes at the very step; a checkpoint every 2 steps
OVERRIDES = [*TINY, "train.steps=6", "log.stats_every=1", "train.ckpt_every=2", "train.device=cpu"]


def test_a_nan_gradient_stops_the_run_at_its_step_and_names_the_parameter(
    compose_config, tmp_path, monkeypatch
):
    build_model = gaze.train.build_model

    def build_with_nan_at_step_3(model_cfg, in_chans):
        model = build_model(model_cfg, in_chans=in_chans)
        backward_count = itertools.count(1)
        model.fc2.bias.register_hook(
            lambda grad: grad * math.nan if next(backward_count) == 3 else grad
        )
        return model

    monkeypatch.setattr(gaze.train, "build_model", build_with_nan_at_step_3)
    with pytest.raises(NonFiniteError) as raised:
        gaze.train.train(compose_config(OVERRIDES), tmp_path)
    assert (raised.value.step, raised.value.parameter) == (3, "fc2.bias")
    assert "at step 3 in the gradient of fc2.bias" in str(raised.value)

    # the last good checkpoint, step 2, is intact; the logs are flushed up to the stop
    state = load_checkpoint(tmp_path)
    assert state["step"] == 2
    assert all(torch.isfinite(value).all() for value in state["model"].values())
    assert pd.read_csv(tmp_path / "metrics.csv")["step"].tolist() == [1, 2]
    events = EventAccumulator(str(tmp_path)).Reload()
    assert [e.step for e in events.Scalars("train/loss")] == [1, 2]


def test_a_nan_loss_with_finite_gradients_stops_the_run_naming_the_loss(
    compose_config, tmp_path, monkeypatch
):
    calls = itertools.count(1)

    def loss_with_nan_at_step_2(prediction, gaze_true):
        # a constant NaN leaves every gradient finite: only the loss check can see it
        loss = l2_gaze_loss(prediction, gaze_true)
        return loss + torch.tensor(math.nan) if next(calls) == 2 else loss

    monkeypatch.setattr(gaze.train, "build_loss", lambda fault_cfg: loss_with_nan_at_step_2)
    with pytest.raises(NonFiniteError) as raised:
        gaze.train.train(compose_config(OVERRIDES), tmp_path)
    assert (raised.value.step, raised.value.parameter) == (2, None)
    assert "at step 2 in the loss" in str(raised.value)
    assert load_checkpoint(tmp_path) is None


@pytest.mark.slow
def test_cli_stops_a_diverging_run_with_one_line_and_a_non_zero_exit(tmp_path):
    # plain SGD at lr 1e30 sends the weights to ~1e30 at step 1 and the activations to Inf next
    run_dir = tmp_path / "run"
    result = run_cli(
        *OVERRIDES, "optim=sgd", "train.lr=1e30", "train.ckpt_every=1", f"hydra.run.dir={run_dir}",
        cwd=tmp_path,
    )  # fmt: skip
    assert result.returncode == 1
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: non-finite value (NaN or Inf) at step ")
    stopped_at = int(lines[0].split(" at step ")[1].split()[0])
    assert load_checkpoint(run_dir)["step"] == stopped_at - 1
    assert pd.read_csv(run_dir / "metrics.csv")["step"].tolist() == list(range(1, stopped_at))
