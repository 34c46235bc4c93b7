"""Loss, angular error and prediction-label correlation of a model over a whole data set."""

import torch

from gaze.geometry import angular_error_deg
from gaze.loss import l2_gaze_loss


@torch.no_grad()
def evaluate(model, dataset, device: torch.device, batch_size: int = 256) -> dict[str, float]:
    """Mean L2 gaze loss (radians), mean angular error (degrees) and gaze correlation."""
    was_training = model.training
    model.eval()
    predictions, labels = [], []
    for start in range(0, len(dataset), batch_size):
        images, gaze = dataset.__getitems__(range(start, min(start + batch_size, len(dataset))))
        predictions.append(model(images.to(device)))
        labels.append(gaze.to(device))
    model.train(was_training)
    prediction, gaze = torch.cat(predictions), torch.cat(labels)
    loss = l2_gaze_loss(prediction, gaze)
    angle = angular_error_deg(prediction, gaze).mean()
    correlation = gaze_correlation(prediction, gaze)
    # one host read for the three numbers
    loss, angle, correlation = torch.stack((loss, angle, correlation)).tolist()
    return {"loss": loss, "angular_error_deg": angle, "gaze_correlation": correlation}


def gaze_correlation(predicted: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
    """Pearson correlation of predicted and true angles, averaged over pitch and yaw.

    About 0 for a network whose predictions do not follow the labels, whatever their scale;
    exactly 0 for an axis the network predicts as a constant (a correlation is undefined there).
    """
    predicted, target = predicted.double(), target.double()
    predicted = predicted - predicted.mean(dim=0)
    target = target - target.mean(dim=0)
    spread = torch.linalg.vector_norm(predicted, dim=0) * torch.linalg.vector_norm(target, dim=0)
    covariance = (predicted * target).sum(dim=0)
    per_axis = torch.where(spread > 0, covariance / spread.clamp(min=1e-300), 0.0)
    return per_axis.mean().float()
