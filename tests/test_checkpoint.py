"""Checkpoints and resume: a killed run, resumed, ends with the numbers of an uninterrupted one."""

import json
import os
import signal
import subprocess
import sys
import time

import pytest
from omegaconf import OmegaConf
from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

from gaze.checkpoint import (
    checkpoint_path,
    load_checkpoint,
    resume_mismatch,
    resume_state,
    save_checkpoint,
)
from gaze.errors import ConfigError
from gaze.run_log import RunLog
from gaze.train import train
from tests.conftest import REPO, TINY, run_cli


def _scalars(run_dir, tag):
    events = EventAccumulator(str(run_dir), size_guidance={"scalars": 0}).Reload()
    return [(e.step, e.value) for e in events.Scalars(tag)]


def test_a_resumed_run_log_shows_each_step_once_and_in_order(tmp_path):
    run_log = RunLog(tmp_path, ["train/loss"])
    for step in range(1, 7):
        run_log.scalars(step, {"train/loss": float(step)})
    run_log.close()
    # steps 5 and 6 stand for what a killed run wrote after its checkpoint at step 4, and the
    # unfinished last line for a row it was killed in the middle of
    with open(tmp_path / "metrics.csv", "ab") as metrics:
        metrics.write(b"1")

    run_log = RunLog(tmp_path, ["train/loss"], resume_step=4)
    for step in (5, 6, 7):
        run_log.scalars(step, {"train/loss": 10.0 + step})
    run_log.close()

    expected = [(1, 1.0), (2, 2.0), (3, 3.0), (4, 4.0), (5, 15.0), (6, 16.0), (7, 17.0)]
    rows = (tmp_path / "metrics.csv").read_bytes().splitlines()
    assert rows == [b"step,train/loss"] + [f"{s},{v!r}".encode() for s, v in expected]
    assert _scalars(tmp_path, "train/loss") == expected


def test_a_checkpoint_is_replaced_whole_or_not_at_all(tmp_path):
    save_checkpoint(tmp_path, {"step": 1})
    save_checkpoint(tmp_path, {"step": 2})
    assert load_checkpoint(tmp_path) == {"step": 2}
    assert os.listdir(checkpoint_path(tmp_path).parent) == ["last.pt"]


def _start_cli(*overrides, cwd):
    """Starts `python -m gaze.train` in the background, its output into files in `cwd`."""
    env = {**os.environ, "PYTHONPATH": str(REPO)}
    with open(cwd / "killed.out", "w") as out, open(cwd / "killed.err", "w") as err:
        return subprocess.Popen(
            [sys.executable, "-m", "gaze.train", *overrides], cwd=cwd, env=env, stdout=out,
            stderr=err,
        )  # fmt: skip


@pytest.mark.slow
def test_a_run_killed_mid_way_then_resumed_matches_an_uninterrupted_run(compose_config, tmp_path):
    steps = 6
    overrides = [*TINY, f"train.steps={steps}", "train.ckpt_every=2", "train.device=cpu"]
    reference = tmp_path / "reference"
    reference.mkdir()
    expected = train(compose_config(overrides), reference)

    # kill the run as soon as its first checkpoint exists
    run_dir = tmp_path / "run"
    process = _start_cli(*overrides, f"hydra.run.dir={run_dir}", cwd=tmp_path)
    while not checkpoint_path(run_dir).exists():
        assert process.poll() is None, (tmp_path / "killed.err").read_text()
        time.sleep(0.02)
    process.send_signal(signal.SIGKILL)
    process.wait()
    assert load_checkpoint(run_dir)["step"] < steps
    assert not (run_dir / "summary.json").exists()

    resumed = run_cli(*overrides, "train.resume=true", f"hydra.run.dir={run_dir}", cwd=tmp_path)
    assert resumed.returncode == 0, resumed.stderr
    assert "resumed from" in resumed.stdout + resumed.stderr
    assert (run_dir / "metrics.csv").read_bytes() == (reference / "metrics.csv").read_bytes()
    summary = json.loads((run_dir / "summary.json").read_text())
    for key in ("steps_per_second", "run_dir"):
        summary.pop(key), expected.pop(key)
    assert summary == expected
    assert _scalars(run_dir, "train/loss") == _scalars(reference, "train/loss")
    assert load_checkpoint(run_dir)["step"] == steps
    # the diagnosis goes on from the checkpoint's window and findings, not afresh
    for report in ("diagnosis.json", "diagnosis.md"):
        assert (run_dir / report).read_text() == (reference / report).read_text()


def test_a_resume_must_keep_the_config_the_run_started_with(compose_config, tmp_path):
    (tmp_path / ".hydra").mkdir()
    OmegaConf.save(compose_config(["train.seed=3"]), tmp_path / ".hydra" / "config.yaml")
    longer = compose_config(["train.seed=3", "train.steps=900", "train.resume=true"])
    assert resume_mismatch(tmp_path, longer) is None

    other_seed = compose_config(["train.seed=4", "train.resume=true"], return_hydra_config=True)
    assert resume_mismatch(tmp_path, other_seed) == (
        f"train.resume=true but train.seed=4 differs from the run's 3 in "
        f"{tmp_path / '.hydra' / 'config.yaml'}; resume with the config the run started with"
    )


def test_a_resume_cannot_end_before_its_checkpoint(tmp_path):
    save_checkpoint(tmp_path, {"step": 8})
    with pytest.raises(ConfigError, match=r"train.steps=6 is below the step of .*last.pt \(8\)"):
        resume_state(tmp_path, True, 6)
    assert resume_state(tmp_path, True, 8)["step"] == 8
    assert resume_state(tmp_path, False, 8) is None
