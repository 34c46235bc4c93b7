"""Same config and seed: the same numbers; another seed: another curve."""

import pandas as pd

from gaze.train import train
from tests.conftest import TINY


def test_the_same_seed_gives_the_same_metrics_and_another_seed_another_curve(
    compose_config, tmp_path
):
    runs = {}
    for name, seed in (("first", 0), ("again", 0), ("other", 1)):
        runs[name] = tmp_path / name
        runs[name].mkdir()
        overrides = [*TINY, "train.steps=2", "train.device=cpu", f"train.seed={seed}"]
        train(compose_config(overrides), runs[name])

    first = (runs["first"] / "metrics.csv").read_bytes()
    assert first == (runs["again"] / "metrics.csv").read_bytes()
    loss = pd.read_csv(runs["first"] / "metrics.csv")["train/loss"]
    other_loss = pd.read_csv(runs["other"] / "metrics.csv")["train/loss"]
    assert len(loss) == len(other_loss) == 2
    assert (loss != other_loss).all()
