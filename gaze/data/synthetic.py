"""Grey eye patches rendered from an eyeball model, deterministic per sample.

Each sample is drawn from its own random stream, seeded by (data seed, split, sample index)
alone, so sample i of a seed is the same image however the set is cut or who renders it.

The model, in pixels of the patch (x right, y down, camera looking along +z):
- the eyeball centre sits near the patch centre; the iris (limbus) is a disc on the eyeball
  whose centre is the eyeball centre plus a radius along the gaze direction (gaze.geometry), so
  it moves the way the label says and is foreshortened into an ellipse by the gaze angle;
- the pupil is a smaller ellipse of varying size inside it, and a corneal glint of a light near
  the camera moves about half as far as the iris;
- the socket (eye corners, eyelids, crease, brow) belongs to the head: it is rolled in-plane and
  jittered by a small head pose, and the eyelid opening follows the pitch (looking up lifts the
  upper lid);
- shading of sclera and skin, an illumination gradient, blur and sensor noise finish the image.
"""

import math
from contextlib import contextmanager

import numpy as np
import torch
import torch.nn.functional as F

from gaze.config_checks import check_subset
from gaze.data.dataset import GazeTensors
from gaze.errors import ConfigError
from gaze.geometry import pitchyaw_to_vector

SPLITS = ("train", "val")

# patch geometry in pixels of a 60-pixel-wide patch; everything scales with the width
_EYEBALL_RADIUS = 13.0
_IRIS_RADIUS = 6.3
_CORNER_HALF_WIDTH = 19.0
_UPPER_LID = 7.5
_LOWER_LID = 5.5
_EDGE = 0.5  # soft-edge width, so sub-pixel positions still change the pixels

# one uniform number per name, per sample, in this order
_UNIFORMS = (
    "pitch", "yaw", "shift_x", "shift_y", "scale", "pupil", "roll", "head_pitch", "head_yaw",
    "skin", "sclera", "iris", "light_angle", "light_strength", "glint_x", "glint_y", "blur",
    "noise", "openness", "brow",
)  # fmt: skip


def draw_parameters(data_cfg, split: str, indices) -> dict[str, torch.Tensor]:
    """The random parameters of samples `indices` of `split`, each from its own stream.

    Returns a dict of (N,) float32 tensors, plus `gaze` (N, 2) pitch/yaw in radians and
    `noise` (N, height, width) standard normal pixels.
    """
    split_number = SPLITS.index(split)
    uniforms, noise = [], []
    for index in indices:
        stream = np.random.default_rng([data_cfg.seed, split_number, int(index)])
        uniforms.append(stream.random(len(_UNIFORMS), dtype=np.float32))
        noise.append(stream.standard_normal((data_cfg.height, data_cfg.width), dtype=np.float32))
    table = torch.from_numpy(np.stack(uniforms)) if uniforms else torch.zeros(0, len(_UNIFORMS))
    uniform = dict(zip(_UNIFORMS, table.unbind(-1), strict=True))

    def spread(name: str, low: float, high: float) -> torch.Tensor:
        return low + (high - low) * uniform[name]

    def symmetric(name: str, half_range_deg: float) -> torch.Tensor:
        return math.radians(half_range_deg) * (2 * uniform[name] - 1)

    return {
        "gaze": torch.stack(
            (
                symmetric("pitch", data_cfg.pitch_range_deg),
                symmetric("yaw", data_cfg.yaw_range_deg),
            ),
            dim=-1,
        ),
        "shift_x": spread("shift_x", -3.0, 3.0),
        "shift_y": spread("shift_y", -2.0, 2.0),
        "scale": spread("scale", 0.92, 1.08),
        "pupil": spread("pupil", 0.32, 0.55),
        "roll": symmetric("roll", data_cfg.roll_range_deg),
        "head_pitch": symmetric("head_pitch", data_cfg.head_pose_range_deg),
        "head_yaw": symmetric("head_yaw", data_cfg.head_pose_range_deg),
        "skin": spread("skin", 0.45, 0.72),
        "sclera": spread("sclera", 0.74, 0.92),
        "iris": spread("iris", 0.18, 0.42),
        "light_angle": spread("light_angle", 0.0, 2 * math.pi),
        "light_strength": spread("light_strength", 0.0, 0.35),
        "glint_x": spread("glint_x", -1.5, 1.5),
        "glint_y": spread("glint_y", -2.0, -0.5),
        "blur": spread("blur", 0.3, 1.1),
        "noise_std": spread("noise", 0.01, 0.035),
        "openness": spread("openness", 0.85, 1.15),
        "brow": spread("brow", 0.0, 1.0),
        "noise": torch.from_numpy(np.stack(noise))
        if noise
        else torch.zeros(0, data_cfg.height, data_cfg.width),
    }


def _soft_inside(margin: torch.Tensor, edge: float) -> torch.Tensor:
    """~1 where `margin` (pixels inside a boundary) is positive, ~0 outside, smooth across it."""
    return torch.sigmoid(margin / edge)


def _column(values: torch.Tensor) -> torch.Tensor:
    return values.view(-1, 1, 1)


def render_eyes(parameters: dict[str, torch.Tensor], height: int, width: int) -> torch.Tensor:
    """(N, 1, height, width) uint8 eye patches from draw_parameters' dict."""
    sample = {name: _column(value) for name, value in parameters.items() if value.dim() == 1}
    unit = width / 60.0 * sample["scale"]
    edge = _EDGE * width / 60.0
    xs = torch.arange(width, dtype=torch.float32).view(1, 1, width) + 0.5
    ys = torch.arange(height, dtype=torch.float32).view(1, height, 1) + 0.5
    centre_x = width / 2 + sample["shift_x"] * width / 60.0
    centre_y = height / 2 + sample["shift_y"] * width / 60.0
    dx, dy = xs - centre_x, ys - centre_y

    # socket frame: the head's in-plane roll, and a small head pose that shifts and narrows
    # the opening a little relative to the eyeball
    cos_roll, sin_roll = torch.cos(sample["roll"]), torch.sin(sample["roll"])
    socket_x = cos_roll * dx + sin_roll * dy - 2.0 * unit * torch.sin(sample["head_yaw"])
    socket_y = -sin_roll * dx + cos_roll * dy + 2.0 * unit * torch.sin(sample["head_pitch"])
    half_width = _CORNER_HALF_WIDTH * unit * torch.cos(sample["head_yaw"])
    across = 1 - (socket_x / half_width) ** 2  # 1 mid-eye, 0 at the corners, < 0 beyond

    # eyelids: looking up lifts the upper lid and lowers the lower one a little
    pitch = _column(parameters["gaze"][:, 0])
    opening = sample["openness"] * (1 + 0.5 * torch.sin(sample["head_pitch"]))
    upper = -_UPPER_LID * unit * opening * (1 + 1.3 * pitch) * across
    lower = _LOWER_LID * unit * opening * (1 - 0.4 * pitch) * across
    aperture = _soft_inside(socket_y - upper, edge) * _soft_inside(lower - socket_y, edge)
    aperture = aperture * (across > 0)

    # the iris and pupil: ellipses around the projected limbus centre, foreshortened along the
    # gaze's image direction by cos(angle between the gaze and the camera axis)
    direction = pitchyaw_to_vector(parameters["gaze"])
    gaze_x, gaze_y = _column(direction[:, 0]), _column(direction[:, 1])
    facing = (-_column(direction[:, 2])).clamp(min=0.2)
    iris_dx = dx - _EYEBALL_RADIUS * unit * gaze_x
    iris_dy = dy - _EYEBALL_RADIUS * unit * gaze_y
    length = torch.sqrt(gaze_x**2 + gaze_y**2).clamp(min=1e-6)
    along = (iris_dx * gaze_x + iris_dy * gaze_y) / length
    sideways = (iris_dy * gaze_x - iris_dx * gaze_y) / length
    ellipse = torch.sqrt((along / facing) ** 2 + sideways**2)
    iris_radius = _IRIS_RADIUS * unit
    iris = _soft_inside(iris_radius - ellipse, edge)
    pupil = _soft_inside(sample["pupil"] * iris_radius - ellipse, edge)
    glint_x = 0.55 * _EYEBALL_RADIUS * unit * gaze_x + sample["glint_x"] * unit
    glint_y = 0.55 * _EYEBALL_RADIUS * unit * gaze_y + sample["glint_y"] * unit
    glint = torch.exp(-((dx - glint_x) ** 2 + (dy - glint_y) ** 2) / (2 * (0.7 * unit) ** 2))

    # shading: the sclera darkens towards the corners and under the upper lid's shadow; the
    # iris darkens towards the limbus
    below_lid = (socket_y - upper).clamp(min=0)
    sclera = (
        sample["sclera"]
        * (1 - 0.3 * (1 - across.clamp(0, 1)))
        * (1 - 0.3 * torch.exp(-below_lid / (1.5 * unit)))
    )
    iris_shade = sample["iris"] * (1.15 - 0.35 * (ellipse / iris_radius).clamp(max=1) ** 3)
    eye = sclera * (1 - iris) + iris_shade * iris
    eye = eye * (1 - pupil) + 0.05 * pupil
    eye = eye + 0.6 * glint

    # skin: the lid margin (lashes), the crease above the upper lid, the brow at the top
    lid_line = torch.exp(-(((socket_y - upper) / (0.9 * unit)) ** 2)) * across.clamp(0, 1)
    crease = torch.exp(-(((socket_y - (upper - 4.5 * unit)) / (1.2 * unit)) ** 2))
    brow_y = -(15.0 + 2.0 * sample["brow"]) * unit
    brow = torch.exp(-(((socket_y - brow_y) / (2.5 * unit)) ** 2))
    brow = brow * torch.exp(-(((socket_x + 3 * unit) / (24 * unit)) ** 4))
    skin = sample["skin"] * (1 - 0.35 * lid_line - 0.12 * crease * across.clamp(0, 1) - 0.3 * brow)
    image = skin * (1 - aperture) + eye * aperture

    # illumination: a linear gradient across the patch
    gradient = torch.cos(sample["light_angle"]) * (xs / width - 0.5) * 2
    gradient = gradient + torch.sin(sample["light_angle"]) * (ys / height - 0.5) * 2
    image = image * (1 + sample["light_strength"] * gradient)

    # camera: blur, then sensor noise, then 8-bit pixels
    image = _blur(image, parameters["blur"])
    image = image + sample["noise_std"] * parameters["noise"]
    return (image.clamp(0.0, 1.0) * 255).round().to(torch.uint8).unsqueeze(1)


def _blur(images: torch.Tensor, sigma: torch.Tensor) -> torch.Tensor:
    """(N, H, W) images blurred by a Gaussian of per-sample `sigma` (N,) pixels."""
    count = images.shape[0]
    radius = 3
    offsets = torch.arange(-radius, radius + 1, dtype=torch.float32)
    kernel = torch.exp(-(offsets.view(1, -1) ** 2) / (2 * sigma.view(-1, 1) ** 2))
    kernel = (kernel / kernel.sum(-1, keepdim=True)).view(count, 1, -1)
    padded = F.pad(images.unsqueeze(0), (radius, radius, radius, radius), mode="replicate")
    # one group per sample, so each image gets its own kernel in one call
    rows = F.conv2d(padded, kernel.view(count, 1, 1, -1), groups=count)
    return F.conv2d(rows, kernel.view(count, 1, -1, 1), groups=count).squeeze(0)


@contextmanager
def _one_thread():
    """Runs the block on one intra-op thread, restoring the previous count afterwards."""
    # NOTE: rendering is ~100 elementwise ops on small tensors; on a shared CPU, torch's
    # thread pool waits for descheduled workers and made it 2-10x slower than one thread
    previous = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        yield
    finally:
        torch.set_num_threads(previous)


def render_split(data_cfg, split: str, indices) -> GazeTensors:
    """Samples `indices` of `split`, rendered and labelled."""
    parameters = draw_parameters(data_cfg, split, indices)
    with _one_thread():
        images = render_eyes(parameters, data_cfg.height, data_cfg.width)
    return GazeTensors(images, parameters["gaze"], mean=data_cfg.mean, std=data_cfg.std)


def check_synthetic(data_cfg) -> None:
    """Raises ConfigError naming the first synthetic-data key whose value cannot be rendered."""
    for key, low in (("train_size", 1), ("val_size", 1), ("height", 16), ("width", 16)):
        value = data_cfg[key]
        if isinstance(value, bool) or not isinstance(value, int) or value < low:
            raise ConfigError(f"data.{key}={value!r} is not allowed; use a whole number >= {low}")
    if data_cfg.channels != 1:
        raise ConfigError(
            f"data.channels={data_cfg.channels!r} is not allowed; the renderer is grey: 1"
        )
    for key in ("pitch_range_deg", "yaw_range_deg", "roll_range_deg", "head_pose_range_deg"):
        value = data_cfg[key]
        if isinstance(value, bool) or not isinstance(value, int | float) or not 0 <= value <= 60:
            raise ConfigError(f"data.{key}={value!r} is not allowed; use degrees from 0 to 60")


def build_synthetic(data_cfg) -> tuple[GazeTensors, GazeTensors]:
    """(train, val) splits; only the first `data.subset` training samples are rendered."""
    check_synthetic(data_cfg)
    subset = data_cfg.get("subset")
    check_subset(subset, data_cfg.train_size)
    train_count = data_cfg.train_size if subset is None else subset
    train = render_split(data_cfg, "train", range(train_count))
    val = render_split(data_cfg, "val", range(data_cfg.val_size))
    return train, val
