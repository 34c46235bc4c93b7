"""The run directory: what counts as a run's results, and the guard that keeps them."""

from pathlib import Path

from hydra.experimental.callback import Callback

from gaze.checkpoint import resume_mismatch
from gaze.distributed import is_main_process
from gaze.errors import exit_with_error

RESULT_PATTERNS = ("events.out.tfevents.*", "metrics.csv")


def has_results(run_dir: Path) -> bool:
    """Whether `run_dir` already holds the results of a run."""
    run_dir = Path(run_dir)
    return any(any(run_dir.glob(pattern)) for pattern in RESULT_PATTERNS)


class KeepExistingResults(Callback):
    """Refuses a single run whose directory already holds results, unless it resumes them.

    A resuming run must have the config the run started with, apart from RESUMABLE_CHANGES.
    It runs before Hydra writes the run's .hydra/ record, so a refused run changes nothing.
    """

    def on_run_start(self, config, **kwargs) -> None:
        if not is_main_process():
            return  # under torchrun rank 0 guards the directory all ranks share
        run_dir = Path(config.hydra.run.dir)
        if not has_results(run_dir):
            return
        if not config.get("train", {}).get("resume", False):
            exit_with_error(
                f"hydra.run.dir={run_dir} already holds a run's results; "
                "remove it, choose another hydra.run.dir, or continue it with train.resume=true"
            )
        mismatch = resume_mismatch(run_dir, config)
        if mismatch:
            exit_with_error(mismatch)
