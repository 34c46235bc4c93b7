import math

import pytest
import torch

from gaze.loss import l2_gaze_loss


def test_loss_is_mean_euclidean_distance():
    predicted = torch.tensor([[0.0, 0.0], [1.0, 1.0]])
    target = torch.tensor([[3.0, 4.0], [1.0, 1.0]])
    assert l2_gaze_loss(predicted, target).item() == pytest.approx(2.5)


def test_gradient_is_unit_direction_over_batch():
    predicted = torch.tensor([[0.0, 0.0], [2.0, 0.0]], requires_grad=True)
    target = torch.tensor([[3.0, 4.0], [0.0, 0.0]])
    l2_gaze_loss(predicted, target).backward()
    expected = torch.tensor([[-0.6, -0.8], [1.0, 0.0]]) / 2
    assert torch.allclose(predicted.grad, expected)


def test_gradient_is_finite_where_prediction_equals_label():
    predicted = torch.tensor([[0.1, -0.2], [0.3, 0.3]], requires_grad=True)
    target = torch.tensor([[0.1, -0.2], [0.0, 0.7]])
    loss = l2_gaze_loss(predicted, target)
    loss.backward()
    assert math.isfinite(loss.item())
    assert torch.isfinite(predicted.grad).all()
    assert torch.equal(predicted.grad[0], torch.zeros(2))
