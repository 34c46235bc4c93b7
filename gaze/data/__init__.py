"""Data sets of eye images with (pitch, yaw) labels, and the batches the training loop reads."""

from gaze.data.batches import StepBatchSampler, make_loader
from gaze.data.dataset import GazeTensors, build_datasets

__all__ = ["GazeTensors", "StepBatchSampler", "build_datasets", "make_loader"]
