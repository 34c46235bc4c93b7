"""A run directory read into tidy pandas DataFrames: scalars, histograms and the diagnosis."""

import json
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd
from omegaconf import OmegaConf
from tbparse import SummaryReader

from gaze.data import build_datasets
from gaze.diagnose import data_statistics
from gaze.errors import ConfigError
from gaze.model import build_model


@dataclass
class Run:
    """Everything a run directory holds, as DataFrames.

    scalars: one row per (step, tag, value). histograms: one row per bin, with the columns
    step, tag, kind (`gradient` or `weight`), parameter, left, right, count. findings: one row
    per diagnosis finding, causes first. parameters: the per-parameter statistics of the
    diagnosis' last window (name, shape, grad_norm, grad_abs_mean, ...).
    """

    path: Path
    scalars: pd.DataFrame
    histograms: pd.DataFrame
    findings: pd.DataFrame
    parameters: pd.DataFrame
    verdict: str | None
    baseline_loss: float | None

    @property
    def name(self) -> str:
        return self.path.name

    @property
    def healthy(self) -> bool:
        return self.verdict == "healthy"

    def scalar(self, tag: str) -> pd.Series:
        """One scalar tag as a Series indexed by step."""
        rows = self.scalars[self.scalars["tag"] == tag]
        return rows.set_index("step")["value"].sort_index()


def _event_files(run_dir: Path) -> list[Path]:
    return sorted(run_dir.glob("events.out.tfevents.*"))


def read_histograms(run_dir: Path) -> pd.DataFrame:
    """Every histogram of a run, one row per bin (TensorBoard's right-edge buckets unrolled)."""
    reader = SummaryReader(str(run_dir), extra_columns={"min"}, event_types={"histograms"})
    frame = reader.histograms
    columns = ["step", "tag", "kind", "parameter", "left", "right", "count"]
    if frame.empty:
        return pd.DataFrame(columns=columns)
    rows = []
    for record in frame.itertuples(index=False):
        right = np.asarray(record.limits, dtype=float)
        left = np.concatenate(([record.min], right[:-1]))
        kind, parameter = record.tag.split("/", 1)
        rows.append(
            pd.DataFrame(
                {
                    "step": record.step,
                    "tag": record.tag,
                    "kind": kind,
                    "parameter": parameter,
                    "left": left,
                    "right": right,
                    "count": np.asarray(record.counts, dtype=float),
                }
            )
        )
    return pd.concat(rows, ignore_index=True)[columns]


def _saved_config(run_dir: Path):
    path = run_dir / ".hydra" / "config.yaml"
    return OmegaConf.load(path) if path.exists() else None


def _baseline_from_config(run_dir: Path) -> float | None:
    """The baseline loss of a run made before it was logged, from its saved data config."""
    cfg = _saved_config(run_dir)
    if cfg is None:
        return None
    return data_statistics(build_datasets(cfg.data)[0])["baseline_loss"]


def _parameters_from_histograms(run_dir: Path, histograms: pd.DataFrame) -> pd.DataFrame:
    """Shapes (from the saved model config) and mean |gradient| estimated from the histograms.

    For a run without diagnosis.json; each bin's entries count at the bin centre's magnitude.
    """
    cfg = _saved_config(run_dir)
    if cfg is None or histograms.empty:
        return pd.DataFrame()
    model = build_model(cfg.model, in_chans=cfg.data.get("channels", 1))
    gradients = histograms[(histograms["kind"] == "gradient")]
    last = gradients[gradients["step"] == gradients["step"].max()]
    centre = (last["left"] + last["right"]).abs() / 2
    magnitude = (centre * last["count"]).groupby(last["parameter"]).sum()
    entries = last.groupby("parameter")["count"].sum()
    mean_abs = magnitude / entries
    names = [n for n, _ in model.named_parameters()]
    return pd.DataFrame(
        {
            "name": names,
            "shape": [list(p.shape) for _, p in model.named_parameters()],
            "grad_abs_mean": [float(mean_abs.get(n, float("nan"))) for n in names],
        }
    )


def read_diagnosis(run_dir: Path) -> dict:
    """diagnosis.json of a run, or an empty report for a run made without one."""
    path = Path(run_dir) / "diagnosis.json"
    if not path.exists():
        return {"verdict": None, "baseline_loss": None, "findings": [], "parameters": {}}
    return json.loads(path.read_text())


def read_run(run_dir) -> Run:
    """Reads `run_dir` (with tbparse for the event files)."""
    run_dir = Path(run_dir)
    if not run_dir.is_dir() or not _event_files(run_dir):
        raise ConfigError(
            f"run directory {run_dir} holds no TensorBoard event file; "
            "give the directory of a finished run, e.g. runs/reproduce/fixed"
        )
    scalars = SummaryReader(str(run_dir), event_types={"scalars"}).scalars
    diagnosis = read_diagnosis(run_dir)
    parameters = pd.DataFrame(diagnosis.get("parameters") or {})
    findings = pd.DataFrame(
        diagnosis["findings"],
        columns=["rule", "symptom", "evidence", "cause", "fix", "first_step", "last_step",
                 "parameters", "active"],
    )  # fmt: skip
    baseline = diagnosis.get("baseline_loss")
    if baseline is None and "train/baseline_loss" in set(scalars["tag"]):
        baseline = float(scalars[scalars["tag"] == "train/baseline_loss"]["value"].iloc[-1])
    histograms = read_histograms(run_dir)
    # NOTE: runs made before gaze.diagnose existed lack both; they are rebuilt from the config
    if baseline is None:
        baseline = _baseline_from_config(run_dir)
    if parameters.empty:
        parameters = _parameters_from_histograms(run_dir, histograms)
    return Run(
        run_dir,
        scalars[["step", "tag", "value"]],
        histograms,
        findings,
        parameters,
        diagnosis.get("verdict"),
        baseline,
    )
