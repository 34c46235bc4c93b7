"""One run on two CPU processes (torchrun, gloo) against the same run on one process."""

import os
import subprocess
import sys

import pandas as pd
import pytest
from omegaconf import OmegaConf

from gaze.data import StepBatchSampler
from gaze.distributed import ShareRunDir, _console_only
from gaze.errors import ConfigError
from tests.conftest import REPO, TINY, run_cli

# GroupNorm instead of BatchNorm: each sample is normalised alone, so two processes with half
# the batch each compute exactly what one process computes (see the README on BatchNorm)
RUN = [
    *[o for o in TINY if not o.startswith("log.stats_every")],
    "log.stats_every=1",
    "model.timm_name=test_efficientnet_gn",
    "init=kaiming",
    "train.device=cpu",
]


def test_process_slices_put_together_are_the_single_process_batches():
    single = list(StepBatchSampler(size=20, batch_size=8, seed=3, steps=7))
    halves = [
        list(StepBatchSampler(size=20, batch_size=8, seed=3, steps=7, rank=r, world_size=2))
        for r in (0, 1)
    ]
    assert [a + b for a, b in zip(*halves, strict=True)] == single
    assert all(len(batch) == 4 for batch in halves[1])

    # resuming at a step gives the same slices: the order depends on (seed, step) alone
    resumed = StepBatchSampler(size=20, batch_size=8, seed=3, steps=7, start_step=5, rank=1,
                               world_size=2)  # fmt: skip
    assert list(resumed) == halves[1][5:]


def test_a_batch_that_does_not_split_over_the_processes_is_refused():
    with pytest.raises(ConfigError, match=r"train.batch_size=9 .* over 2 processes"):
        StepBatchSampler(size=20, batch_size=9, seed=0, steps=2, rank=0, world_size=2)


def test_other_ranks_log_to_the_console_only():
    logging_config = OmegaConf.create(
        {
            "handlers": {"console": {"class": "logging.StreamHandler"},
                         "file": {"class": "logging.FileHandler", "filename": "x/train.log"}},
            "root": {"level": "INFO", "handlers": ["console", "file"]},
        }
    )  # fmt: skip
    _console_only(logging_config)
    assert list(logging_config.handlers) == ["console"]
    assert logging_config.root.handlers == ["console"] and logging_config.root.level == "WARNING"


def test_a_sweep_under_torchrun_is_refused_in_one_line(monkeypatch, capsys):
    monkeypatch.setenv("WORLD_SIZE", "2")
    monkeypatch.setenv("RANK", "1")
    with pytest.raises(SystemExit) as exited:
        ShareRunDir().on_multirun_start(config=None)
    assert exited.value.code == 2
    assert capsys.readouterr().err.startswith("error: a sweep (-m) under torchrun is not supported")


@pytest.mark.slow
def test_two_processes_follow_the_single_process_loss_curve_into_one_run_dir(tmp_path):
    single = tmp_path / "single"
    result = run_cli(*RUN, f"hydra.run.dir={single}", cwd=tmp_path)
    assert result.returncode == 0, result.stderr

    # microseconds in the directory name: the two ranks resolve ${now:...} differently
    parent = tmp_path / "ddp"
    command = [sys.executable, "-m", "torch.distributed.run", "--standalone",
               "--nproc_per_node=2", "-m", "gaze.train", *RUN,
               f"hydra.run.dir={parent}/${{now:%H-%M-%S-%f}}"]  # fmt: skip
    env = {**os.environ, "PYTHONPATH": str(REPO), "OMP_NUM_THREADS": "1"}
    ddp = subprocess.run(command, cwd=tmp_path, env=env, capture_output=True, text=True,
                         timeout=600)  # fmt: skip
    assert ddp.returncode == 0, ddp.stderr

    # one run directory, written by rank 0 alone
    (run_dir,) = list(parent.iterdir())
    assert len(list(run_dir.glob("events.out.tfevents.*"))) == 1
    assert (run_dir / ".hydra" / "config.yaml").exists() and (run_dir / "summary.json").exists()
    assert (run_dir / "train.log").read_text().count("done | train loss") == 1

    # the same global batches and the all-reduced gradients: the same curve and statistics
    expected, measured = pd.read_csv(single / "metrics.csv"), pd.read_csv(run_dir / "metrics.csv")
    assert measured["step"].tolist() == expected["step"].tolist() == [1, 2, 3, 4]
    for column in ["train/loss", "train/angular_error_deg", "grad_norm/total",
                   "grad_norm/fc2.weight", "weight_norm/fc1.weight"]:  # fmt: skip
        assert measured[column].tolist() == pytest.approx(expected[column].tolist(), rel=1e-3)
    assert measured["val/loss"].dropna().tolist() == pytest.approx(
        expected["val/loss"].dropna().tolist(), rel=1e-3
    )
    # the tolerance is far below what a wrong batch split would change
    assert expected["train/loss"].diff().abs().iloc[1:].min() > 1e-2 * expected["train/loss"].max()
