"""The gaze network: a timm backbone, then a small regression head fc1 -> ReLU -> fc2."""

import timm
import torch
from torch import nn

# The names users pick in conf/model/, mapped to timm's model names.
BACKBONES = {"mobilenetv2": "mobilenetv2_100", "resnet50": "resnet50"}


class GazeNet(nn.Module):
    """Maps (N, C, H, W) eye images to (N, 2) gaze: pitch and yaw in radians.

    The head's layers keep the names fc1 and fc2 so that every statistic and histogram is
    tagged `fc1.weight`, `fc2.weight`, ..., the layer names of the underfitting story.
    """

    def __init__(self, timm_name: str, in_chans: int = 1, hidden: int = 128):
        super().__init__()
        # pretrained=False: nothing is downloaded, and the init scheme alone decides the weights
        self.backbone = timm.create_model(
            timm_name, pretrained=False, num_classes=0, in_chans=in_chans
        )
        self.fc1 = nn.Linear(self.backbone.num_features, hidden)
        self.relu = nn.ReLU(inplace=True)
        self.fc2 = nn.Linear(hidden, 2)

    def forward(self, images: torch.Tensor) -> torch.Tensor:
        return self.fc2(self.relu(self.fc1(self.backbone(images))))


def build_model(model_cfg, in_chans: int = 1) -> GazeNet:
    """Builds the network a `model` config group names."""
    return GazeNet(model_cfg.timm_name, in_chans=in_chans, hidden=model_cfg.hidden)
