import math

import pytest
import torch

from gaze.geometry import angular_error_deg, pitchyaw_to_vector, vector_to_pitchyaw


def test_looking_into_the_camera_is_minus_z():
    vector = pitchyaw_to_vector(torch.zeros(2))
    assert torch.allclose(vector, torch.tensor([0.0, 0.0, -1.0]))


def test_positive_pitch_looks_up_and_positive_yaw_looks_left():
    up = pitchyaw_to_vector(torch.tensor([0.3, 0.0]))
    left = pitchyaw_to_vector(torch.tensor([0.0, 0.3]))
    assert up[1] < 0  # image y grows downwards
    assert left[0] < 0


def test_round_trip():
    pitchyaw = torch.tensor([[0.2, -0.4], [-0.5, 0.7], [0.0, 0.0]])
    vectors = pitchyaw_to_vector(pitchyaw)
    assert torch.allclose(torch.linalg.vector_norm(vectors, dim=-1), torch.ones(3))
    assert torch.allclose(vector_to_pitchyaw(vectors * 3.0), pitchyaw, atol=1e-6)


@pytest.mark.parametrize(
    ("predicted", "target", "degrees"),
    [
        ((0.0, 0.0), (0.0, 0.0), 0.0),
        ((0.0, 0.0), (0.0, math.pi / 2), 90.0),
        ((0.0, 0.0), (math.radians(10), 0.0), 10.0),
        ((0.0, math.radians(-15)), (0.0, math.radians(15)), 30.0),
    ],
)
def test_angular_error_on_known_pairs(predicted, target, degrees):
    error = angular_error_deg(torch.tensor([predicted]), torch.tensor([target]))
    assert error.item() == pytest.approx(degrees, abs=1e-3)


def test_angular_error_of_identical_directions_is_not_nan():
    pitchyaw = torch.tensor([[0.123456, -0.654321]] * 100)
    assert torch.isfinite(angular_error_deg(pitchyaw, pitchyaw)).all()
