"""The synthetic eye renderer: per-sample determinism, and images that agree with their labels."""

import pytest
import torch

from gaze.data import build_datasets
from gaze.data.synthetic import draw_parameters, render_eyes, render_split
from gaze.errors import ConfigError

SMALL = ["data.train_size=40", "data.val_size=12"]


def test_a_slice_rendered_apart_equals_the_same_samples_of_the_whole_set(compose_config):
    data_cfg = compose_config(SMALL).data
    whole = render_split(data_cfg, "train", range(40))
    apart = render_split(data_cfg, "train", range(25, 31))
    assert torch.equal(apart.images, whole.images[25:31])
    assert torch.equal(apart.gaze, whole.gaze[25:31])


def test_a_subset_renders_the_first_samples_of_the_full_set(compose_config):
    full, _ = build_datasets(compose_config(SMALL).data)
    cut, _ = build_datasets(compose_config([*SMALL, "data.subset=9"]).data)
    assert torch.equal(cut.images, full.images[:9])


def test_splits_and_seeds_draw_different_images(compose_config):
    data_cfg = compose_config(SMALL).data
    train = render_split(data_cfg, "train", range(5))
    val = render_split(data_cfg, "val", range(5))
    other = render_split(compose_config([*SMALL, "data.seed=3"]).data, "train", range(5))
    assert not torch.equal(train.images, val.images)
    assert not torch.equal(train.images, other.images)


def test_default_labels_are_centred_and_within_the_configured_ranges(compose_config):
    data_cfg = compose_config().data
    gaze = draw_parameters(data_cfg, "train", range(2000))["gaze"].rad2deg()
    assert gaze[:, 0].abs().max() <= data_cfg.pitch_range_deg
    assert gaze[:, 1].abs().max() <= data_cfg.yaw_range_deg
    # the underfit run's constant prediction must not fit the labels: keep them centred on 0
    assert gaze.mean(0).abs().max() < 1.5


def _pupil_centre(images: torch.Tensor) -> torch.Tensor:
    """(N, 2) x, y centroid of each image's darkest pixels: the pupil."""
    pixels = images[:, 0].float()
    dark = pixels <= torch.quantile(pixels.flatten(1), 0.02, dim=1).view(-1, 1, 1)
    rows, cols = torch.meshgrid(
        torch.arange(pixels.shape[1]), torch.arange(pixels.shape[2]), indexing="ij"
    )
    weight = dark.float()
    total = weight.sum((1, 2))
    return (
        torch.stack(((weight * cols).sum((1, 2)), (weight * rows).sum((1, 2))), -1) / total[:, None]
    )


def _render_with_gaze(data_cfg, pitch: float, yaw: float) -> torch.Tensor:
    parameters = draw_parameters(data_cfg, "train", range(8))
    parameters["gaze"] = torch.tensor([[pitch, yaw]]).expand(8, 2).clone()
    parameters["noise"] = torch.zeros_like(parameters["noise"])
    return render_eyes(parameters, data_cfg.height, data_cfg.width)


def test_the_pupil_moves_the_way_the_label_says(compose_config):
    data_cfg = compose_config().data
    left = _pupil_centre(_render_with_gaze(data_cfg, 0.0, 0.5))
    right = _pupil_centre(_render_with_gaze(data_cfg, 0.0, -0.5))
    up = _pupil_centre(_render_with_gaze(data_cfg, 0.35, 0.0))
    down = _pupil_centre(_render_with_gaze(data_cfg, -0.35, 0.0))
    # gaze.geometry: positive yaw looks towards the image's left, positive pitch looks up
    assert (left[:, 0] < right[:, 0] - 5).all()
    assert (up[:, 1] < down[:, 1] - 1.5).all() and (down - up)[:, 1].mean() > 4


def test_images_are_grey_uint8_of_the_configured_size(compose_config):
    data_cfg = compose_config([*SMALL, "data.height=48", "data.width=80"]).data
    train, _ = build_datasets(data_cfg)
    assert train.images.dtype == torch.uint8
    assert train.images.shape == (40, 1, 48, 80)
    # every sample has dark pupil, bright sclera and skin in between, not a flat patch
    assert (train.images.flatten(1).float().std(1) > 10).all()


@pytest.mark.parametrize(
    ("override", "message"),
    [
        ("data.pitch_range_deg=95", r"data.pitch_range_deg=95 .*0 to 60"),
        ("data.width=8", r"data.width=8 .*>= 16"),
        ("data.channels=3", r"data.channels=3 .*grey"),
    ],
)
def test_bad_renderer_settings_are_refused_in_one_line(compose_config, override, message):
    with pytest.raises(ConfigError, match=message):
        build_datasets(compose_config([*SMALL, override]).data)


def test_render_samples_writes_a_png_grid(tmp_path):
    from scripts.render_samples import main

    output = tmp_path / "grid.png"
    main(
        [
            "--output",
            str(output),
            "--rows",
            "2",
            "--columns",
            "3",
            "data.train_size=6",
            "data.val_size=1",
        ]
    )
    assert output.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
