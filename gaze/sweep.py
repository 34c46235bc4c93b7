"""Multirun sweeps: the record a failed job leaves, and one table of every job of a sweep."""

import json
import logging
import traceback
from pathlib import Path

import pandas as pd
import yaml
from hydra.core.utils import JobStatus
from hydra.experimental.callback import Callback

log = logging.getLogger(__name__)

FAILURE_FILE = "failure.json"
SUMMARY_FILE = "summary.json"
DIAGNOSIS_FILE = "diagnosis.json"
# the summary values a row shows, in order
RESULT_COLUMNS = [
    "train/loss",
    "train/angular_error_deg",
    "val/loss",
    "val/angular_error_deg",
    "val/gaze_correlation",
    "steps_per_second",
]
# overrides that select the sweep itself, not a choice of the job
IGNORED_OVERRIDES = ("sweep",)


class RecordFailure(Callback):
    """Writes failure.json (the error and its traceback) into the directory of a job that raised.

    Hydra's launchers (basic, joblib, submitit) catch a job's exception and carry on with the
    other jobs; this leaves the evidence where the job's results would have been.
    """

    def on_job_end(self, config, job_return, **kwargs) -> None:
        # imported here: the table tool has no need of torch, which gaze.distributed imports
        from gaze.distributed import is_main_process

        if job_return.status != JobStatus.FAILED or not is_main_process():
            return
        # NOTE: JobReturn.return_value re-raises a failed job's error; the error itself is kept
        # only in _return_value (Hydra 1.3)
        error = job_return._return_value
        record = {
            "error": f"{type(error).__name__}: {error}".splitlines()[0],
            "traceback": "".join(traceback.format_exception(error)),
        }
        run_dir = Path(config.hydra.runtime.output_dir)
        (run_dir / FAILURE_FILE).write_text(json.dumps(record, indent=2) + "\n")
        log.error("job %s failed: %s", run_dir.name, record["error"])


def job_dirs(sweep_dir: Path) -> list[Path]:
    """The job directories of a sweep (those with a .hydra/ record), in job-number order."""
    jobs = [p.parent.parent for p in Path(sweep_dir).glob("*/.hydra/overrides.yaml")]
    return sorted(jobs, key=lambda p: (_job_number(p), p.name))


def _job_number(job_dir: Path) -> int:
    prefix = job_dir.name.split("_", 1)[0]
    return int(prefix) if prefix.isdigit() else -1


def job_row(job_dir: Path) -> dict:
    """One job: its overrides, status (ok, failed, incomplete), results, verdict and error."""
    row = {"job": _job_number(job_dir)}
    overrides = yaml.safe_load((job_dir / ".hydra" / "overrides.yaml").read_text()) or []
    for override in overrides:
        key, _, value = override.lstrip("+~").partition("=")
        if key not in IGNORED_OVERRIDES:
            row[key] = value

    summary, failure = _read_json(job_dir / SUMMARY_FILE), _read_json(job_dir / FAILURE_FILE)
    if summary is not None:
        row["status"] = "ok"
        row.update({column: summary.get(column) for column in RESULT_COLUMNS})
    elif failure is not None:
        row["status"], row["error"] = "failed", failure.get("error", "")
    else:
        row["status"] = "incomplete"
        row["error"] = f"neither {SUMMARY_FILE} nor {FAILURE_FILE}: still running, or killed"
    row["verdict"] = _verdict(_read_json(job_dir / DIAGNOSIS_FILE))
    row["dir"] = job_dir.name
    return row


def _read_json(path: Path) -> dict | None:
    return json.loads(path.read_text()) if path.exists() else None


def _verdict(diagnosis: dict | None) -> str | None:
    """The diagnosis in a few words: healthy, or the rules that fired, causes first."""
    if diagnosis is None:
        return None
    rules = [finding["rule"] for finding in diagnosis.get("findings", [])]
    return ", ".join(rules) if rules else "healthy"


def sweep_table(sweep_dir: Path) -> pd.DataFrame:
    """A row per job of the sweep in `sweep_dir`, failed and unfinished jobs included."""
    jobs = job_dirs(sweep_dir)
    if not jobs:
        raise FileNotFoundError(f"{sweep_dir} holds no job directories (*/.hydra/overrides.yaml)")
    table = pd.DataFrame([job_row(job) for job in jobs])
    last = ["status", *RESULT_COLUMNS, "verdict", "error", "dir"]
    for column in last:
        if column not in table:
            table[column] = None
    override_columns = [c for c in table if c not in {"job", *last}]
    return table[["job", *override_columns, *last]]


def plot_final_loss(table: pd.DataFrame, path: Path) -> None:
    """Bars of the final training loss per init and backbone, one panel per other override."""
    import matplotlib

    matplotlib.use("Agg")  # files only; a sweep machine has no display
    import matplotlib.pyplot as plt

    done = table[table["status"] == "ok"].copy()
    done["train/loss"] = done["train/loss"].astype(float)
    group = "init" if "init" in table else "job"
    series = "model" if "model" in table and group != "job" else None
    # one panel per combination of the other overrides that vary between the finished jobs
    overrides = table.columns[1 : table.columns.get_loc("status")]
    others = [c for c in overrides if c not in (group, series) and done[c].nunique() > 1]
    panels = list(done.groupby(others)) if others and not done.empty else [((), done)]
    figure, axes = plt.subplots(
        1, len(panels), figsize=(4.5 * len(panels), 3.5), squeeze=False, sharey=True
    )
    for axis, (values, panel) in zip(axes[0], panels, strict=True):
        if not panel.empty:
            if series:
                bars = panel.pivot_table(index=group, columns=series, values="train/loss")
            else:
                bars = panel.set_index(group)[["train/loss"]]
            bars.plot.bar(ax=axis, rot=0)
        values = values if isinstance(values, tuple) else (values,)
        axis.set_title(", ".join(f"{k}={v}" for k, v in zip(others, values, strict=False)))
        axis.set_ylabel("final train loss (rad)")
    failed = int((table["status"] != "ok").sum())
    figure.suptitle(
        f"{len(done)} jobs done" + (f", {failed} failed or unfinished" if failed else "")
    )
    figure.tight_layout()
    figure.savefig(path, dpi=100)
    plt.close(figure)


def write_table(table: pd.DataFrame, sweep_dir: Path) -> dict[str, Path]:
    """Saves the table as CSV and markdown, and the loss figure as PNG, into `sweep_dir`."""
    sweep_dir = Path(sweep_dir)
    paths = {
        "csv": sweep_dir / "sweep_table.csv",
        "markdown": sweep_dir / "sweep_table.md",
        "figure": sweep_dir / "sweep_loss.png",
    }
    table.to_csv(paths["csv"], index=False)
    shown = table.drop(columns=["dir"]).astype(object)
    shown = shown.where(shown.notna(), None)  # tabulate leaves None cells empty, not NaN ones
    markdown = shown.to_markdown(index=False, floatfmt=".4g", missingval="")
    paths["markdown"].write_text(markdown + "\n")
    plot_final_loss(table, paths["figure"])
    return paths
