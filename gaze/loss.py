"""The L2 gaze loss."""

import torch


def l2_gaze_loss(predicted: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
    """Batch mean of the Euclidean distance between (N, 2) pitch/yaw predictions and labels.

    torch's vector norm defines its gradient at a zero distance as 0, so a prediction that
    equals its label contributes a finite (zero) gradient; a hand-written sqrt(sum(d**2)) would
    give NaN there.
    """
    return torch.linalg.vector_norm(predicted - target, dim=-1).mean()
