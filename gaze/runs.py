"""A run directory read into tidy pandas DataFrames: scalars, histograms and the diagnosis."""

import json
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd
from tbparse import SummaryReader

from gaze.errors import ConfigError


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
    return Run(
        run_dir,
        scalars[["step", "tag", "value"]],
        read_histograms(run_dir),
        findings,
        parameters,
        diagnosis.get("verdict"),
        baseline,
    )
