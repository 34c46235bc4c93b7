"""Loss and angular error of a model over a whole data set."""

import torch

from gaze.geometry import angular_error_deg
from gaze.loss import l2_gaze_loss


@torch.no_grad()
def evaluate(model, dataset, device: torch.device, batch_size: int = 256) -> dict[str, float]:
    """Mean L2 gaze loss (radians) and mean angular error (degrees) over `dataset`."""
    was_training = model.training
    model.eval()
    loss_sum, angle_sum = torch.zeros((), device=device), torch.zeros((), device=device)
    for start in range(0, len(dataset), batch_size):
        images, gaze = dataset.__getitems__(range(start, min(start + batch_size, len(dataset))))
        images, gaze = images.to(device), gaze.to(device)
        prediction = model(images)
        loss_sum += l2_gaze_loss(prediction, gaze) * len(gaze)
        angle_sum += angular_error_deg(prediction, gaze).sum()
    model.train(was_training)
    return {
        "loss": loss_sum.item() / len(dataset),
        "angular_error_deg": angle_sum.item() / len(dataset),
    }
