"""An embedded, deterministic data set of grey eye patches rendered in-process.

The renderer is deliberately plain: a sclera ellipse on skin, with a dark iris and pupil whose
centre sits where the gaze direction (gaze.geometry's convention) projects onto the image, so
the label is determined by the image and a healthy network can learn it.
"""

import math

import torch

from gaze.data.dataset import GazeTensors
from gaze.geometry import pitchyaw_to_vector


def sample_gaze(
    count: int, pitch_range_deg: float, yaw_range_deg: float, generator
) -> torch.Tensor:
    """(count, 2) pitch and yaw in radians, uniform in +-range."""
    limits = torch.tensor([math.radians(pitch_range_deg), math.radians(yaw_range_deg)])
    return (torch.rand(count, 2, generator=generator) * 2 - 1) * limits


def render_eyes(gaze: torch.Tensor, height: int, width: int, generator) -> torch.Tensor:
    """(N, 1, height, width) uint8 eye patches for (N, 2) pitch/yaw in radians."""
    count = gaze.shape[0]
    rows = torch.arange(height, dtype=torch.float32).view(1, height, 1)
    cols = torch.arange(width, dtype=torch.float32).view(1, 1, width)

    # eye placement jitters a little, so the network must find the iris, not a fixed pixel
    jitter = (torch.rand(count, 2, generator=generator) - 0.5) * 0.1
    centre_x = (0.5 + jitter[:, 0]).view(-1, 1, 1) * width
    centre_y = (0.5 + jitter[:, 1]).view(-1, 1, 1) * height

    # the iris centre is the projection of eyeball centre + radius * gaze direction
    direction = pitchyaw_to_vector(gaze)
    eyeball = 0.42 * width
    iris_x = centre_x + eyeball * direction[:, 0].view(-1, 1, 1)
    iris_y = centre_y + eyeball * direction[:, 1].view(-1, 1, 1)
    iris_radius = 0.13 * width

    sclera = ((cols - centre_x) / (0.42 * width)) ** 2 + ((rows - centre_y) / (0.36 * height)) ** 2
    iris_distance = torch.sqrt((cols - iris_x) ** 2 + (rows - iris_y) ** 2)

    skin = 0.55 + 0.1 * torch.rand(count, 1, 1, generator=generator)
    image = torch.where(sclera < 1.0, torch.full_like(sclera, 0.85), skin.expand_as(sclera))
    inside = sclera < 1.0
    image = torch.where(inside & (iris_distance < iris_radius), torch.full_like(image, 0.3), image)
    image = torch.where(
        inside & (iris_distance < 0.4 * iris_radius), torch.full_like(image, 0.05), image
    )

    noise = 0.03 * torch.randn(image.shape, generator=generator)
    pixels = ((image + noise).clamp(0.0, 1.0) * 255).round().to(torch.uint8)
    return pixels.unsqueeze(1)


def _render_split(data_cfg, count: int, split_seed: int) -> GazeTensors:
    generator = torch.Generator().manual_seed(split_seed)
    gaze = sample_gaze(count, data_cfg.pitch_range_deg, data_cfg.yaw_range_deg, generator)
    images = render_eyes(gaze, data_cfg.height, data_cfg.width, generator)
    return GazeTensors(images, gaze, mean=data_cfg.mean, std=data_cfg.std)


def build_synthetic(data_cfg) -> tuple[GazeTensors, GazeTensors]:
    """(train, val) splits rendered from separate streams of the same data seed."""
    train = _render_split(data_cfg, data_cfg.train_size, data_cfg.seed * 2)
    val = _render_split(data_cfg, data_cfg.val_size, data_cfg.seed * 2 + 1)
    return train, val
