"""The validation metrics: loss, angle and the correlation that tells learning from chance."""

import pytest
import torch

from gaze.data import GazeTensors
from gaze.evaluate import evaluate, gaze_correlation


def test_gaze_correlation_is_one_for_any_scaled_fit_and_zero_for_constants():
    gaze = torch.randn(200, 2, generator=torch.Generator().manual_seed(0))
    assert float(gaze_correlation(gaze, gaze)) == pytest.approx(1.0)
    assert float(gaze_correlation(0.1 * gaze + 0.3, gaze)) == pytest.approx(1.0)
    assert float(gaze_correlation(-gaze, gaze)) == pytest.approx(-1.0)
    assert float(gaze_correlation(torch.full_like(gaze, 0.2), gaze)) == 0.0
    # one axis learned, the other constant: half
    one_axis = torch.stack((gaze[:, 0], torch.zeros(200)), dim=1)
    assert float(gaze_correlation(one_axis, gaze)) == pytest.approx(0.5)


def test_gaze_correlation_of_shuffled_predictions_is_near_zero():
    generator = torch.Generator().manual_seed(1)
    gaze = torch.randn(2000, 2, generator=generator)
    shuffled = gaze[torch.randperm(2000, generator=generator)]
    assert abs(float(gaze_correlation(shuffled, gaze))) < 4 / (2 * 2000) ** 0.5  # 4 s.e.


class _ReadsTheGaze(torch.nn.Module):
    """A perfect network: the gaze is written into each image's first two pixels."""

    def forward(self, images):
        return images.flatten(1)[:, :2]


def test_evaluate_scores_the_whole_set_across_batches():
    pixels = torch.randint(0, 256, (10, 1, 1, 2), dtype=torch.uint8)
    # normalised with mean 128 and std 256, the pixels read back as angles in [-0.5, 0.5)
    gaze = (pixels.flatten(1).float() - 128) / 256
    data = GazeTensors(pixels, gaze, mean=128.0, std=256.0)
    perfect = evaluate(_ReadsTheGaze(), data, torch.device("cpu"), batch_size=3)
    assert perfect["loss"] == pytest.approx(0.0, abs=1e-6)
    assert perfect["angular_error_deg"] == pytest.approx(0.0, abs=0.05)
    assert perfect["gaze_correlation"] == pytest.approx(1.0)
    # shuffled labels: the same predictions, now with other samples' gaze
    shuffled = GazeTensors(pixels, gaze[torch.arange(9, -1, -1)], mean=128.0, std=256.0)
    metrics = evaluate(_ReadsTheGaze(), shuffled, torch.device("cpu"), batch_size=3)
    distance = (gaze - gaze[torch.arange(9, -1, -1)]).norm(dim=1).mean()
    assert metrics["loss"] == pytest.approx(float(distance), rel=1e-5)
    assert metrics["gaze_correlation"] < 1.0
