"""The real TensorBoard server reads both runs' scalars and histograms over its HTTP API."""

import json
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import pytest
from hydra import compose, initialize_config_dir

from gaze.train import train
from tests.conftest import CONF, TINY


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def _get(port: int, path: str):
    with urllib.request.urlopen(f"http://127.0.0.1:{port}{path}", timeout=5) as response:
        return json.load(response)


@pytest.fixture
def two_runs(tmp_path) -> Path:
    for name, init in (("underfit", "near_zero"), ("fixed", "kaiming")):
        with initialize_config_dir(config_dir=str(CONF), version_base="1.3"):
            cfg = compose("train", overrides=[*TINY, f"init={init}"])
        (tmp_path / name).mkdir()
        train(cfg, tmp_path / name)
    return tmp_path


def test_server_serves_both_runs_scalar_and_histogram_tags(two_runs):
    port = _free_port()
    tensorboard = Path(sys.executable).with_name("tensorboard")
    server = subprocess.Popen(
        [str(tensorboard), "--logdir", str(two_runs), "--host", "127.0.0.1", "--port", str(port)],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        deadline, scalar_tags = time.monotonic() + 60, {}
        while time.monotonic() < deadline:
            try:
                scalar_tags = _get(port, "/data/plugin/scalars/tags")
                if {"underfit", "fixed"} <= set(scalar_tags):
                    break
            except OSError:
                pass
            time.sleep(0.5)
        assert {"underfit", "fixed"} <= set(scalar_tags), "TensorBoard did not load both runs"
        histogram_tags = _get(port, "/data/plugin/histograms/tags")
        for run in ("underfit", "fixed"):
            assert {"train/loss", "val/angular_error_deg", "grad_norm/fc2.weight"} <= set(
                scalar_tags[run]
            )
            assert {"gradient/fc2.weight", "weight/fc2.weight"} <= set(histogram_tags[run])

        loss = _get(port, "/data/plugin/scalars/scalars?run=fixed&tag=train/loss")
        assert [step for _, step, _ in loss] == [1, 2, 4]
        histogram = _get(
            port, "/data/plugin/histograms/histograms?run=underfit&tag=weight/fc2.weight"
        )
        _, step, buckets = histogram[0]
        assert step == 1
        assert sum(count for _, _, count in buckets) == pytest.approx(256)  # fc2 is 2 x 128
    finally:
        server.terminate()
        server.wait(timeout=10)
