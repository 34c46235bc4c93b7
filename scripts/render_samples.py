"""Write a PNG grid of data samples with their gaze drawn as arrows: scripts/render_samples.py."""

import argparse
import logging
import sys
from pathlib import Path

import matplotlib

matplotlib.use("Agg")  # files only; no display is needed or wanted
import matplotlib.pyplot as plt  # noqa: E402
from hydra import compose, initialize_config_dir  # noqa: E402

from gaze.data import build_datasets  # noqa: E402
from gaze.errors import ConfigError, exit_with_error  # noqa: E402
from gaze.geometry import pitchyaw_to_vector  # noqa: E402

CONF = Path(__file__).resolve().parents[1] / "conf"
log = logging.getLogger("render_samples")


def parse_args(argv=None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split(":")[0])
    parser.add_argument("--output", type=Path, default=Path("runs/samples.png"))
    parser.add_argument("--rows", type=int, default=4)
    parser.add_argument("--columns", type=int, default=6)
    parser.add_argument("--split", choices=("train", "val"), default="train")
    parser.add_argument("--scale", type=float, default=2.0, help="inches per 60 pixels of width")
    parser.add_argument(
        "overrides", nargs="*", help="Hydra overrides of conf/train.yaml, e.g. data=mpiigaze"
    )
    return parser.parse_args(argv)


def draw_grid(dataset, rows: int, columns: int, output: Path, scale: float) -> None:
    """Saves the first rows x columns samples, each with its gaze projected as an arrow."""
    count = min(rows * columns, len(dataset))
    images = dataset.images[:count]
    height, width = images.shape[-2:]
    # the arrow is the gaze vector's image-plane part (x right, y down), from the patch centre
    direction = pitchyaw_to_vector(dataset.gaze[:count])
    length = 0.45 * width
    figure, axes = plt.subplots(
        rows, columns, figsize=(columns * scale, rows * scale * height / width + 0.3), squeeze=False
    )
    for index, axis in enumerate(axes.flat):
        axis.set_axis_off()
        if index >= count:
            continue
        picture = images[index].permute(1, 2, 0).squeeze(-1).numpy()
        axis.imshow(picture, cmap="gray", vmin=0, vmax=255, interpolation="nearest")
        axis.arrow(
            width / 2, height / 2, length * direction[index, 0].item(),
            length * direction[index, 1].item(), color="tab:red", width=0.6, head_width=2.5,
        )  # fmt: skip
        pitch, yaw = dataset.gaze[index].rad2deg().tolist()
        axis.set_title(f"p {pitch:+.0f}  y {yaw:+.0f}", fontsize=7)
    figure.tight_layout(pad=0.3)
    output.parent.mkdir(parents=True, exist_ok=True)
    figure.savefig(output, dpi=100)
    plt.close(figure)


def main(argv=None) -> None:
    logging.basicConfig(level=logging.INFO, format="%(message)s")
    args = parse_args(argv)
    with initialize_config_dir(config_dir=str(CONF), version_base="1.3"):
        cfg = compose("train", overrides=args.overrides)
    try:
        train, val = build_datasets(cfg.data)
    except ConfigError as error:
        exit_with_error(str(error))
    dataset = train if args.split == "train" else val
    draw_grid(dataset, args.rows, args.columns, args.output, args.scale)
    log.info("wrote %s (%s %s samples; arrow = gaze, pitch/yaw in degrees)", args.output,
             cfg.data.name, args.split)  # fmt: skip


if __name__ == "__main__":
    sys.exit(main())
