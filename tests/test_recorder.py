"""The recorder's cadence: statistics every step, the update ratio with the histograms."""

import torch
from omegaconf import OmegaConf
from torch import nn

from gaze.geometry import angular_error_deg
from gaze.recorder import TrainingRecorder


def test_update_ratio_comes_on_histogram_steps_only(tmp_path):
    torch.manual_seed(0)
    model = nn.Sequential(nn.Linear(5, 7), nn.ReLU(), nn.Linear(7, 2))
    optimizer = torch.optim.SGD(model.parameters(), lr=0.1)
    log_cfg = OmegaConf.create({"stats_every": 1, "every": 10, "hist_every": 3, "hist_bins": 8})
    recorder = TrainingRecorder(model, tmp_path, log_cfg, steps=7, device=torch.device("cpu"))
    images, gaze = torch.randn(4, 5), torch.randn(4, 2) * 0.3

    with_ratio = []
    for step in range(1, 8):
        prediction = model(images)
        loss = (prediction - gaze).pow(2).mean()
        optimizer.zero_grad()
        loss.backward()
        recorder.before_update(step)
        optimizer.step()
        stats = recorder.after_update(
            step, loss, angular_error_deg(prediction.detach(), gaze).mean()
        )
        assert stats is not None and stats.grad_norm.shape == (4,)
        if stats.update_ratio is not None:
            assert (stats.update_ratio > 0).all()
            with_ratio.append(step)
    recorder.close()
    assert with_ratio == [1, 3, 6, 7]
