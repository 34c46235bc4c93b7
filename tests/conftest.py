"""Shared fixtures: the real Hydra configs, composed, and short training runs on them."""

import os
import subprocess
import sys
from pathlib import Path

import pytest
from hydra import compose, initialize_config_dir

REPO = Path(__file__).resolve().parents[1]
CONF = REPO / "conf"

# small enough for a 2-core CPU, large enough to exercise every part of a run
TINY = [
    "data.train_size=64",
    "data.val_size=32",
    "train.batch_size=16",
    "train.steps=4",
    "train.eval_every=2",
    "log.stats_every=2",
    "log.every=2",
    "log.hist_every=2",
]


@pytest.fixture
def compose_config():
    """compose_config(overrides) -> the training config Hydra builds from conf/train.yaml."""

    def _compose(overrides=(), return_hydra_config=False):
        with initialize_config_dir(config_dir=str(CONF), version_base="1.3"):
            return compose(
                "train", overrides=list(overrides), return_hydra_config=return_hydra_config
            )

    return _compose


def run_cli(*overrides: str, cwd: Path, timeout: float = 600) -> subprocess.CompletedProcess:
    """Runs `python -m gaze.train` with Hydra overrides, as a user would, in `cwd`."""
    env = {**os.environ, "PYTHONPATH": str(REPO)}
    return subprocess.run(
        [sys.executable, "-m", "gaze.train", *overrides],
        cwd=cwd,
        env=env,
        capture_output=True,
        text=True,
        timeout=timeout,
    )
