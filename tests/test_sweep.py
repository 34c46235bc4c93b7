"""Hydra multirun sweeps through the basic, joblib and submitit_local launchers, and their table."""

import json
import math
import subprocess
import sys

import pandas as pd
import pytest

from gaze.sweep import sweep_table
from tests.conftest import REPO, TINY, run_cli

# a 2x2 grid whose data.subset=65 jobs fail (the tiny training set holds 64 samples)
GRID = ["sweep=grid", "model=mobilenetv2", "init=near_zero,kaiming", "data.subset=16,65"]
# the launchers and the table are under test here, not the backbone: timm's smallest test net
FAST = [
    *[o for o in TINY if not o.startswith("train.steps")],
    "train.steps=2",
    "model.timm_name=test_efficientnet_gn",
]


def _table_script(sweep_dir) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, str(REPO / "scripts" / "sweep_table.py"), str(sweep_dir)],
        capture_output=True,
        text=True,
        timeout=300,
    )


def _check_grid_table(sweep_dir) -> pd.DataFrame:
    result = _table_script(sweep_dir)
    assert result.returncode == 0, result.stderr
    table = sweep_table(sweep_dir)
    assert table["job"].tolist() == [0, 1, 2, 3]
    assert table[["init", "data.subset"]].values.tolist() == [
        ["near_zero", "16"],
        ["near_zero", "65"],
        ["kaiming", "16"],
        ["kaiming", "65"],
    ]
    assert table["status"].tolist() == ["ok", "failed", "ok", "failed"]
    done, failed = table[table["status"] == "ok"], table[table["status"] == "failed"]
    for column in ["train/loss", "val/angular_error_deg", "steps_per_second"]:
        assert all(math.isfinite(v) and v > 0 for v in done[column])
    assert all(-1 <= v <= 1 for v in done["val/gaze_correlation"])
    for error in failed["error"]:
        assert error.startswith("ConfigError: data.subset=65 is larger than the training set")
    assert "job 1 failed: ConfigError: data.subset=65" in result.stdout

    # every job is one TensorBoard run, named by its overrides
    for row in done.itertuples():
        assert f"init={row.init}" in row.dir and "data.subset=16" in row.dir
        assert len(list((sweep_dir / row.dir).glob("events.out.tfevents.*"))) == 1
    saved = pd.read_csv(sweep_dir / "sweep_table.csv")
    assert saved["status"].tolist() == table["status"].tolist()
    markdown = (sweep_dir / "sweep_table.md").read_text()
    assert markdown.count("| failed ") == 2 and "ConfigError: data.subset=65" in markdown
    assert (sweep_dir / "sweep_loss.png").stat().st_size > 0
    return table


def test_grid_config_sweeps_backbone_init_and_subset(compose_config):
    cfg = compose_config(["sweep=grid"], return_hydra_config=True)
    params = cfg.hydra.sweeper.params
    assert params["model"] == "mobilenetv2,resnet50"
    assert params["init"] == "near_zero,kaiming,default"
    assert params["data.subset"] == "100,1000"
    assert cfg.train.steps == 100
    assert "sweep" in cfg.hydra.job.config.override_dirname.exclude_keys


@pytest.mark.slow
def test_basic_launcher_runs_the_grid_and_the_table_keeps_failed_jobs(tmp_path):
    sweep_dir = tmp_path / "sweep"
    result = run_cli("-m", *GRID, *FAST, f"hydra.sweep.dir={sweep_dir}", cwd=tmp_path)
    # Hydra runs every job, then reports the first failure
    assert result.returncode == 1
    assert "data.subset=65 is larger than the training set" in result.stderr
    table = _check_grid_table(sweep_dir)
    failure = json.loads((sweep_dir / table["dir"][1] / "failure.json").read_text())
    assert "Traceback" in failure["traceback"]


@pytest.mark.slow
def test_joblib_launcher_runs_the_grid_in_parallel_processes(tmp_path):
    sweep_dir = tmp_path / "sweep"
    result = run_cli("-m", *GRID, *FAST, "hydra/launcher=joblib", "hydra.launcher.n_jobs=2",
                     f"hydra.sweep.dir={sweep_dir}", cwd=tmp_path)  # fmt: skip
    assert result.returncode == 1
    assert "Joblib.Parallel" in result.stdout + result.stderr
    _check_grid_table(sweep_dir)


@pytest.mark.slow
def test_submitit_local_launcher_runs_a_job_as_the_cluster_would(tmp_path):
    sweep_dir = tmp_path / "sweep"
    result = run_cli("-m", "model=mobilenetv2", "init=kaiming", *FAST,
                     "hydra/launcher=submitit_local", f"hydra.sweep.dir={sweep_dir}",
                     cwd=tmp_path)  # fmt: skip
    assert result.returncode == 0, result.stderr
    table = sweep_table(sweep_dir)
    assert table["status"].tolist() == ["ok"]
    assert table["init"].tolist() == ["kaiming"]
    assert list(sweep_dir.glob(".submitit/*/*_log.out"))


def test_table_reads_the_diagnosis_verdict_and_marks_unfinished_jobs(tmp_path):
    for number, overrides in enumerate([["init=near_zero"], ["init=kaiming"]]):
        job = tmp_path / f"{number}_{overrides[0]}"
        (job / ".hydra").mkdir(parents=True)
        (job / ".hydra" / "overrides.yaml").write_text("".join(f"- {o}\n" for o in overrides))
    first = tmp_path / "0_init=near_zero"
    (first / "summary.json").write_text(json.dumps({"train/loss": 0.4, "steps_per_second": 3.0}))
    # diagnosis.json lists its findings causes first
    findings = [{"rule": "vanishing_gradients"}, {"rule": "loss_at_baseline"}]
    report = {"verdict": "problems found", "findings": findings}
    (first / "diagnosis.json").write_text(json.dumps(report))

    table = sweep_table(tmp_path)
    assert table["status"].tolist() == ["ok", "incomplete"]
    assert table["verdict"].tolist()[0] == "vanishing_gradients, loss_at_baseline"
    assert pd.isna(table["verdict"].tolist()[1])  # no diagnosis.json yet
    assert "summary.json" in table["error"].tolist()[1]


def test_table_script_refuses_a_directory_without_jobs(tmp_path):
    result = _table_script(tmp_path)
    assert result.returncode == 2
    assert result.stderr.strip() == f"error: {tmp_path} holds no job directories " + (
        "(*/.hydra/overrides.yaml)"
    )


def test_slurm_launcher_config_names_partition_time_cpus_gpus_and_memory(compose_config):
    cfg = compose_config(["sweep=grid", "hydra/launcher=slurm"], return_hydra_config=True)
    launcher = cfg.hydra.launcher
    assert launcher._target_.endswith("submitit_launcher.SlurmLauncher")
    assert (launcher.partition, launcher.timeout_min, launcher.cpus_per_task) == ("gpu", 60, 4)
    assert (launcher.gpus_per_node, launcher.mem_gb) == (1, 16)
