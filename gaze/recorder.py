"""What a run records about its training steps: statistics, histograms, scalars, console lines."""

import logging
import time
from pathlib import Path

import torch

from gaze.geometry import angular_error_deg
from gaze.monitor import ParameterMonitor, ParameterStats
from gaze.run_log import RunLog

log = logging.getLogger(__name__)

METRIC_TAGS = ["train/loss", "train/angular_error_deg", "val/loss", "val/angular_error_deg"]


def is_due(step: int, every: int, last_step: int) -> bool:
    """Logging cadence: the first step, every `every` steps, and the last step."""
    return step == 1 or step % every == 0 or step == last_step


class TrainingRecorder:
    """Measures the model around each optimiser step and writes what it measured.

    The loop calls `before_update(step)` between backward and the optimiser step, so the
    gradients measured are those the step applies, then `after_update(...)`. Losses accumulate
    on the device; the host reads them only on logged steps.
    """

    def __init__(self, model, run_dir: Path, log_cfg, steps: int, device: torch.device):
        self.monitor = ParameterMonitor(model, bins=log_cfg.hist_bins)
        columns = METRIC_TAGS + ["grad_norm/total"]
        columns += [f"grad_norm/{n}" for n in self.monitor.names]
        columns += [f"weight_norm/{n}" for n in self.monitor.names]
        self.run_log = RunLog(run_dir, columns)
        self.every, self.hist_every, self.steps = log_cfg.every, log_cfg.hist_every, steps
        self.latest: dict[str, float] = {}
        self._stats: ParameterStats | None = None
        self._loss_sum = torch.zeros((), device=device)
        self._angle_sum = torch.zeros((), device=device)
        self._window_steps, self._window_start = 0, time.perf_counter()

    def before_update(self, step: int) -> None:
        """Measures the gradients and weights before the optimiser step, on logged steps."""
        if is_due(step, self.every, self.steps):
            self._stats = self.monitor.parameter_stats()
            self.monitor.remember_weights()
        if is_due(step, self.hist_every, self.steps):
            self.run_log.histograms(step, self.monitor.histograms())

    def after_update(
        self, step: int, loss, prediction, gaze, val_metrics: dict[str, float] | None = None
    ) -> ParameterStats | None:
        """Accumulates the step's loss; on logged steps writes scalars and returns the stats."""
        self._loss_sum += loss.detach()
        self._angle_sum += angular_error_deg(prediction.detach(), gaze).mean()
        self._window_steps += 1

        scalars, stats = {}, None
        if self._stats is not None:
            stats, self._stats = self._stats, None
            stats.update_ratio = self.monitor.update_ratio()
            scalars.update(self._close_window(step, stats))
            scalars.update(stats.scalars())
        if val_metrics:
            scalars.update({f"val/{k}": v for k, v in val_metrics.items()})
        if scalars:
            self.latest.update({k: v for k, v in scalars.items() if k in METRIC_TAGS})
            self.run_log.scalars(step, scalars)
        return stats

    def _close_window(self, step: int, stats: ParameterStats) -> dict[str, float]:
        metrics = {
            "train/loss": self._loss_sum.item() / self._window_steps,
            "train/angular_error_deg": self._angle_sum.item() / self._window_steps,
        }
        rate = self._window_steps / (time.perf_counter() - self._window_start)
        log.info(
            "step %d/%d | loss %.4f | angle %.1f deg | grad %.1e | %.1f it/s",
            step, self.steps, metrics["train/loss"], metrics["train/angular_error_deg"],
            stats.total_grad_norm, rate,
        )  # fmt: skip
        self._loss_sum.zero_()
        self._angle_sum.zero_()
        self._window_steps, self._window_start = 0, time.perf_counter()
        return metrics

    def close(self) -> None:
        self.run_log.close()
