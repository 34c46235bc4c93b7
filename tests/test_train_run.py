"""A short real run: every tag, metrics.csv, the console lines, and the run-directory guard."""

import pandas as pd
import pytest
from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

from gaze.errors import ConfigError
from gaze.model import build_model
from gaze.train import train
from tests.conftest import TINY, run_cli


@pytest.fixture(scope="module")
def tiny_run(tmp_path_factory):
    from hydra import compose, initialize_config_dir

    from tests.conftest import CONF

    with initialize_config_dir(config_dir=str(CONF), version_base="1.3"):
        cfg = compose("train", overrides=[*TINY, "train.steps=5"])
    run_dir = tmp_path_factory.mktemp("run")
    summary = train(cfg, run_dir)
    return cfg, run_dir, summary


def _events(run_dir):
    accumulator = EventAccumulator(str(run_dir), size_guidance={"scalars": 0, "histograms": 0})
    return accumulator.Reload()


def test_run_writes_every_scalar_and_histogram_tag(tiny_run):
    cfg, run_dir, _ = tiny_run
    names = [n for n, _ in build_model(cfg.model).named_parameters()]
    events = _events(run_dir)
    scalars, histograms = set(events.Tags()["scalars"]), set(events.Tags()["histograms"])
    assert {
        "train/loss",
        "train/angular_error_deg",
        "val/loss",
        "val/angular_error_deg",
        "grad_norm/total",
    } <= scalars
    for name in names:
        assert {f"grad_norm/{name}", f"weight_norm/{name}"} <= scalars
        assert {f"gradient/{name}", f"weight/{name}"} <= histograms


def test_histograms_come_at_the_first_step_every_hist_every_steps_and_the_last(tiny_run):
    events = _events(tiny_run[1])
    assert [e.step for e in events.Histograms("gradient/fc2.weight")] == [1, 2, 4, 5]
    assert [e.step for e in events.Scalars("train/loss")] == [1, 2, 4, 5]
    assert [e.step for e in events.Scalars("val/loss")] == [2, 4, 5]
    assert [e.step for e in events.Scalars("val/gaze_correlation")] == [2, 4, 5]


def test_the_diagnosis_sees_the_last_validation_pass(tiny_run):
    import json

    _, run_dir, summary = tiny_run
    diagnosis = json.loads((run_dir / "diagnosis.json").read_text())
    assert diagnosis["validation"]["step"] == 5
    assert diagnosis["validation"]["loss"] == pytest.approx(summary["val/loss"])
    assert -1 <= diagnosis["validation"]["gaze_correlation"] <= 1
    assert diagnosis["val_baseline_loss"] > 0


def test_metrics_csv_holds_the_same_scalars(tiny_run):
    _, run_dir, summary = tiny_run
    metrics = pd.read_csv(run_dir / "metrics.csv")
    assert metrics["step"].tolist() == [1, 2, 4, 5]
    assert {"train/loss", "val/angular_error_deg", "grad_norm/fc2.weight"} <= set(metrics)
    events = _events(run_dir)
    tensorboard_loss = [e.value for e in events.Scalars("train/loss")]
    assert metrics["train/loss"].tolist() == pytest.approx(tensorboard_loss, rel=1e-6)
    assert metrics["train/loss"].iloc[-1] == pytest.approx(summary["train/loss"], rel=1e-6)
    assert (run_dir / "summary.json").exists()


def test_cli_run_prints_step_lines_and_a_summary_then_refuses_to_overwrite(tmp_path):
    run_dir = tmp_path / "run"
    result = run_cli(*TINY, f"hydra.run.dir={run_dir}", cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    output = result.stdout + result.stderr
    assert "step 2/4 | loss " in output and " deg | grad " in output and " it/s" in output
    assert f"run {run_dir} | view: tensorboard --logdir {tmp_path}" in output
    saved_config = (run_dir / ".hydra" / "config.yaml").read_text()
    saved_metrics = (run_dir / "metrics.csv").read_text()

    again = run_cli(*TINY, "train.seed=1", f"hydra.run.dir={run_dir}", cwd=tmp_path)
    assert again.returncode == 2
    assert f"hydra.run.dir={run_dir} already holds a run's results" in again.stderr
    assert (run_dir / ".hydra" / "config.yaml").read_text() == saved_config
    assert (run_dir / "metrics.csv").read_text() == saved_metrics


@pytest.mark.parametrize(
    ("override", "message"),
    [
        ("train.steps=0", "train.steps=0 is not allowed"),
        ("train.batch_size=-2", "train.batch_size=-2 is not allowed"),
        ("train.lr=-1", "train.lr=-1 is not allowed"),
        ("log.hist_every=0", "log.hist_every=0 is not allowed"),
        ("data.subset=0", "data.subset=0 is not allowed"),
        ("data.subset=65", "data.subset=65 is larger than the training set (64 samples)"),
    ],
)
def test_bad_values_are_refused_before_training(compose_config, tmp_path, override, message):
    with pytest.raises(ConfigError) as raised:
        train(compose_config([*TINY, override]), tmp_path)
    assert message in str(raised.value) and "\n" not in str(raised.value)
    assert not (tmp_path / "metrics.csv").exists()


def test_cli_reports_a_bad_value_in_one_line(tmp_path):
    result = run_cli(*TINY, "train.lr=0", f"hydra.run.dir={tmp_path / 'run'}", cwd=tmp_path)
    assert result.returncode == 2
    assert result.stderr.strip().splitlines() == [
        "error: train.lr=0 is not allowed; use a number > 0"
    ]


def test_statistics_come_every_step_by_default_and_console_lines_every_log_every(tmp_path):
    run_dir = tmp_path / "run"
    overrides = [o for o in TINY if not o.startswith(("log.stats_every", "log.every"))]
    result = run_cli(*overrides, "train.steps=5", "log.every=3", f"hydra.run.dir={run_dir}",
                     cwd=tmp_path)  # fmt: skip
    assert result.returncode == 0, result.stderr
    assert pd.read_csv(run_dir / "metrics.csv")["step"].tolist() == [1, 2, 3, 4, 5]
    output = result.stdout + result.stderr
    printed = [int(line.split("step ")[1].split("/")[0]) for line in output.splitlines()
               if " | loss " in line and "step " in line]  # fmt: skip
    assert printed == [1, 3, 5]
