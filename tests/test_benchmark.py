"""The benchmark script in its quickest mode: every variant timed, and the JSON it writes."""

import importlib.util
import json
import subprocess
import sys

import pytest

from tests.conftest import REPO

VARIANTS = {"bare", "norms", "statistics", "default", "histograms", "naive"}


@pytest.mark.slow  # about 25 s on 2 quiet cores: a model, six variants, and the data set
def test_quick_benchmark_writes_every_variant_and_the_data_pipeline(tmp_path):
    output = tmp_path / "bench" / "benchmark.json"
    quick = ["--models", "mobilenetv2", "--repetitions", "1", "--steps", "2", "--batch-size", "2"]
    result = subprocess.run(
        [sys.executable, str(REPO / "scripts" / "benchmark.py"), *quick, "--data-batches", "3"]
        + ["--device", "cpu", "--threads", "1", "--clock", "cpu", "--output", str(output)],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert result.returncode == 0, result.stderr
    assert "| mobilenetv2 | naive |" in result.stdout

    report = json.loads(output.read_text())
    assert report["settings"] == {
        "batch_size": 2,
        "repetitions": 1,
        "steps_per_repetition": 2,
        "clock": "cpu",
    }
    assert report["machine"]["device"] == "cpu"
    assert report["data_pipeline"]["delivered_samples_per_second"] > 0
    model = report["models"]["mobilenetv2"]
    assert model["input"] == [1, 36, 60]
    assert set(model["variants"]) == VARIANTS
    for timing in model["variants"].values():
        assert timing["median_ms"] > 0
    assert model["variants"]["bare"]["ratio"] == 1.0
    assert {"statistics_step_ms", "histogram_step_ms"} <= set(model["variants"]["default"])
    assert model["variants"]["default"]["hist_every"] == 50
    for variant, target in [("norms", 1.02), ("default", 1.05), ("histograms", 1.25)]:
        timing = model["variants"][variant]
        assert timing["target"] == target
        assert timing["met"] == (timing["ratio"] <= target)
    data = model["data_pipeline"]
    assert data["ratio"] > 0 and data["target"] == 10
    assert data["met"] == (data["ratio"] >= 10)


def _benchmark_module():
    spec = importlib.util.spec_from_file_location("benchmark", REPO / "scripts" / "benchmark.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@pytest.mark.parametrize(
    "arguments, message",
    [
        (["--models", "vgg"], "--models ['vgg'] not known"),
        (["--steps", "1"], "--steps=1 is too few"),
        (["--clock", "cpu", "--device", "cuda"], "--clock=cpu needs --device cpu"),
    ],
)
def test_benchmark_refuses_bad_options_before_any_work(capsys, arguments, message):
    with pytest.raises(SystemExit) as exit_info:
        _benchmark_module().parse_args(arguments)
    assert exit_info.value.code == 2
    assert message in capsys.readouterr().err
