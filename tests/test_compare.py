"""Reading a real run directory into DataFrames, and the compare script's figures and table."""

import json
import logging
import subprocess
import sys

import pytest
from tbparse import SummaryReader

from gaze.errors import ConfigError
from gaze.runs import read_run
from gaze.train import train
from tests.conftest import REPO, TINY

SHORT = [*TINY, "train.steps=5", "data.subset=32"]


@pytest.fixture(scope="module")
def two_runs(tmp_path_factory):
    from hydra import compose, initialize_config_dir

    from tests.conftest import CONF

    runs, warnings = {}, _Collect()
    logging.getLogger("gaze").addHandler(warnings)
    for name, init in (("healthy", "kaiming"), ("failing", "near_zero")):
        with initialize_config_dir(config_dir=str(CONF), version_base="1.3"):
            cfg = compose("train", overrides=[*SHORT, f"init={init}"])
        run_dir = tmp_path_factory.mktemp(name)
        train(cfg, run_dir)
        runs[name] = run_dir
    logging.getLogger("gaze").removeHandler(warnings)
    runs["warnings"] = warnings.lines
    return runs


class _Collect(logging.Handler):
    def __init__(self):
        super().__init__(level=logging.WARNING)
        self.lines = []

    def emit(self, record):
        self.lines.append(record.getMessage())


def test_a_finding_is_a_warning_line_and_text_in_tensorboard(two_runs):
    first = [line for line in two_runs["warnings"] if "near-zero weights at fc2 at step 1" in line]
    assert len(first) == 1 and "fc2.weight with RMS" in first[0] and "try: init=kaiming" in first[0]
    for name in ("healthy", "failing"):
        text = SummaryReader(str(two_runs[name]), event_types={"text"}).text
        markdown = (two_runs[name] / "diagnosis.md").read_text()
        assert text["tag"].tolist() == ["diagnosis"] and text["value"].iloc[0] == markdown


def test_a_run_reads_into_tidy_frames(two_runs):
    run = read_run(two_runs["failing"])
    assert list(run.scalars.columns) == ["step", "tag", "value"]
    assert run.scalar("train/loss").index.tolist() == [1, 2, 4, 5]
    assert run.scalar("train/baseline_loss").nunique() == 1
    assert run.baseline_loss == pytest.approx(run.scalar("train/baseline_loss").iloc[0])

    # histogram bins tile each histogram's range, and hold every entry of the tensor
    fc2 = run.histograms[
        (run.histograms["tag"] == "weight/fc2.weight") & (run.histograms.step == 5)
    ]
    assert fc2["count"].sum() == 2 * 128
    assert (fc2["left"].iloc[1:].to_numpy() == fc2["right"].iloc[:-1].to_numpy()).all()
    assert set(run.histograms["kind"]) == {"gradient", "weight"}

    # the diagnosis as frames: findings, and the per-parameter table with shapes
    diagnosis = json.loads((two_runs["failing"] / "diagnosis.json").read_text())
    assert run.verdict == diagnosis["verdict"] == "problems found"
    assert run.findings["rule"].tolist() == [f["rule"] for f in diagnosis["findings"]]
    assert "near_zero_weights" in set(run.findings["rule"])
    row = run.parameters.set_index("name").loc["fc2.weight"]
    assert list(row["shape"]) == [2, 128] and row["weight_std"] < 1e-5


def test_a_directory_without_events_is_refused_in_one_line(tmp_path):
    with pytest.raises(ConfigError, match=f"run directory {tmp_path} holds no TensorBoard"):
        read_run(tmp_path)


def test_compare_script_writes_figures_and_the_diagnosis_table(two_runs, tmp_path):
    out = tmp_path / "compare"
    # failing first on the command line: the healthy run still goes on the left
    result = subprocess.run(
        [sys.executable, str(REPO / "scripts" / "compare.py"), str(two_runs["failing"]),
         str(two_runs["healthy"]), "--out", str(out)],
        capture_output=True, text=True, timeout=300,
    )  # fmt: skip
    assert result.returncode == 0, result.stderr
    for name in ("loss.png", "distributions.png", "gradient_flow.png"):
        data = (out / name).read_bytes()
        assert data[:8] == b"\x89PNG\r\n\x1a\n" and len(data) > 10_000
    table = (out / "diagnoses.md").read_text()
    header = table.splitlines()[2]
    assert header.index(two_runs["healthy"].name) < header.index(two_runs["failing"].name)
    assert "| verdict |" in table and "| near_zero_weights |" in table


def test_compare_script_names_a_missing_run(tmp_path):
    result = subprocess.run(
        [sys.executable, str(REPO / "scripts" / "compare.py"), str(tmp_path / "nope"),
         str(tmp_path), "--out", str(tmp_path / "out")],
        capture_output=True, text=True, timeout=120,
    )  # fmt: skip
    assert result.returncode == 2
    assert result.stderr.strip() == (
        f"error: run directory {tmp_path / 'nope'} holds no TensorBoard event file; "
        "give the directory of a finished run, e.g. runs/reproduce/fixed"
    )
