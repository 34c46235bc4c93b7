"""Gaze conventions, written once.

Angles are (pitch, yaw) in radians, as in the normalised MPIIGaze data. A gaze direction is the
unit vector in camera coordinates (x right, y down, z forward from the camera), pointing from
the eye towards where it looks, so a person looking straight into the camera has (0, 0, -1):

    x = -cos(pitch) * sin(yaw)
    y = -sin(pitch)
    z = -cos(pitch) * cos(yaw)

Positive pitch looks up, positive yaw looks towards the image's left.
"""

import torch


def pitchyaw_to_vector(pitchyaw: torch.Tensor) -> torch.Tensor:
    """Unit gaze vectors (..., 3) from (..., 2) pitch and yaw in radians."""
    pitch, yaw = pitchyaw.unbind(-1)
    return torch.stack(
        (-torch.cos(pitch) * torch.sin(yaw), -torch.sin(pitch), -torch.cos(pitch) * torch.cos(yaw)),
        dim=-1,
    )


def vector_to_pitchyaw(vector: torch.Tensor) -> torch.Tensor:
    """(..., 2) pitch and yaw in radians from (..., 3) gaze vectors of any length."""
    unit = vector / torch.linalg.vector_norm(vector, dim=-1, keepdim=True)
    x, y, z = unit.unbind(-1)
    pitch = torch.asin((-y).clamp(-1.0, 1.0))
    yaw = torch.atan2(-x, -z)
    return torch.stack((pitch, yaw), dim=-1)


def angular_error_deg(predicted: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
    """Angle in degrees between predicted and target gaze, each (..., 2) pitch/yaw in radians."""
    cosine = (pitchyaw_to_vector(predicted) * pitchyaw_to_vector(target)).sum(-1)
    # rounding can push the cosine of identical directions just past 1, where acos is NaN
    return torch.rad2deg(torch.acos(cosine.clamp(-1.0, 1.0)))
