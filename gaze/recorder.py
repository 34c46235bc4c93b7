"""What a run records about its training steps: statistics, histograms, scalars, console lines."""

import logging
import math
import time
from pathlib import Path

import torch

from gaze.diagnose import Diagnosis
from gaze.monitor import ParameterMonitor, ParameterStats
from gaze.nonfinite import FiniteGuard, NonFiniteError
from gaze.run_log import RunLog

log = logging.getLogger(__name__)

METRIC_TAGS = [
    "train/loss",
    "train/angular_error_deg",
    "val/loss",
    "val/angular_error_deg",
    "val/gaze_correlation",
]


def is_due(step: int, every: int, last_step: int) -> bool:
    """Logging cadence: the first step, every `every` steps, and the last step."""
    return step == 1 or step % every == 0 or step == last_step


class TrainingRecorder:
    """Measures the model around each optimiser step and writes what it measured.

    The loop calls `before_update(step)` between backward and the optimiser step, so the
    gradients measured are those the step applies, then `after_update(...)`. Per-parameter
    statistics, scalars and metrics.csv rows come every `log.stats_every` steps, histograms and
    the statistics' update ratio every `log.hist_every`, console lines every `log.every` (each
    also at the first and last step).
    Losses accumulate on the device; the host reads them only when it writes.
    """

    def __init__(
        self,
        model,
        run_dir: Path,
        log_cfg,
        steps: int,
        device: torch.device,
        *,
        resume_step: int | None = None,
        diagnosis: Diagnosis | None = None,
    ):
        self.monitor = ParameterMonitor(model, bins=log_cfg.hist_bins)
        self.run_dir, self.diagnosis = Path(run_dir), diagnosis
        columns = METRIC_TAGS + ["train/baseline_loss", "grad_norm/total"]
        columns += [f"grad_norm/{n}" for n in self.monitor.names]
        columns += [f"weight_norm/{n}" for n in self.monitor.names]
        self.run_log = RunLog(run_dir, columns, resume_step=resume_step)
        self.guard = FiniteGuard(self.monitor.names, device)
        self.stats_every, self.every = log_cfg.stats_every, log_cfg.every
        self.hist_every, self.steps = log_cfg.hist_every, steps
        self.latest: dict[str, float] = {}
        self._stats: ParameterStats | None = None
        self._total_grad_norm = float("nan")
        self._scalar_window = _Window(device)
        self._console_window = _Window(device)

    def before_update(self, step: int, loss: torch.Tensor | None = None) -> None:
        """Measures the gradients and weights before the optimiser step, on logged steps.

        `loss`, the step's loss, is read only if a gradient is non-finite, for the diagnosis.
        """
        histogram_step = is_due(step, self.hist_every, self.steps)
        if is_due(step, self.stats_every, self.steps):
            self._stats = self.monitor.parameter_stats()
            try:
                self.guard.check_gradients(step, self._stats.grad_norm)
            except NonFiniteError:
                # the run stops here: the diagnosis records why before the error propagates
                loss_value = float("nan") if loss is None else loss.item()
                self.diagnose_stop(step, loss_value, self._stats)
                raise
            # NOTE: the update ratio needs a copy of every weight, a pass as costly as all the
            # other statistics together, so it comes on histogram steps only (else None)
            if histogram_step:
                self.monitor.remember_weights(self._stats.weight_norm)
        if histogram_step:
            self.run_log.histograms(step, self.monitor.histograms())

    def after_update(
        self, step: int, loss, angle, val_metrics: dict[str, float] | None = None
    ) -> ParameterStats | None:
        """Accumulates the step's loss and mean angular error (degrees), both 0-dim tensors.

        On statistics steps it writes the scalars and returns the statistics.
        """
        for window in (self._scalar_window, self._console_window):
            window.add(loss.detach(), angle)
        self.guard.watch_loss(step, loss)

        scalars, stats = {}, None
        if val_metrics and self.diagnosis is not None:
            # before the statistics of this step, so a check at this step sees this pass
            self.diagnosis.observe_validation(step, val_metrics)
        if self._stats is not None:
            stats, self._stats = self._stats, None
            if self.monitor.remembers_weights:
                stats.update_ratio = self.monitor.update_ratio()
            self._total_grad_norm = stats.total_grad_norm
            scalars.update(self._scalar_window.close())
            scalars.update(stats.scalars())
            self._diagnose(step, scalars["train/loss"], stats, scalars)
            if not math.isfinite(scalars["train/loss"]):
                self.guard.check_loss()
        if val_metrics:
            scalars.update({f"val/{k}": v for k, v in val_metrics.items()})
        if scalars:
            self.latest.update({k: v for k, v in scalars.items() if k in METRIC_TAGS})
            self.run_log.scalars(step, scalars)
        if is_due(step, self.every, self.steps):
            self._console_line(step)
        return stats

    def _diagnose(self, step: int, loss: float, stats: ParameterStats, scalars: dict) -> None:
        if self.diagnosis is None:
            return
        scalars["train/baseline_loss"] = self.diagnosis.baseline_loss
        new = self.diagnosis.observe(step, loss, stats)
        for finding in new:
            log.warning(finding.line())
        if new:
            # written at once, so the findings survive a run that stops at the next step
            self.diagnosis.write(self.run_dir)

    def diagnose_stop(self, step: int, loss: float, stats: ParameterStats | None = None) -> None:
        """Diagnoses `stats` (measured now if None) and `loss` as a run stops; writes the report."""
        if self.diagnosis is None:
            return
        stats = self.monitor.parameter_stats() if stats is None else stats
        for finding in self.diagnosis.observe(step, float(loss), stats):
            log.warning(finding.line())
        self._write_diagnosis(step)

    def _write_diagnosis(self, step: int) -> None:
        self.diagnosis.write(self.run_dir)
        self.run_log.text("diagnosis", self.diagnosis.markdown(), step)
        if self.diagnosis.healthy:
            log.info("diagnosis: healthy | no rule fired | %s", self.run_dir / "diagnosis.md")
        else:
            log.warning(
                "diagnosis: %s | %s",
                ", ".join(f.rule for f in self.diagnosis.ordered_findings()),
                self.run_dir / "diagnosis.md",
            )

    def _console_line(self, step: int) -> None:
        steps_in_window, seconds = self._console_window.steps, self._console_window.seconds()
        metrics = self._console_window.close()
        log.info(
            "step %d/%d | loss %.4f | angle %.1f deg | grad %.1e | %.1f it/s",
            step, self.steps, metrics["train/loss"], metrics["train/angular_error_deg"],
            self._total_grad_norm, steps_in_window / seconds,
        )  # fmt: skip

    def flush(self) -> None:
        self.run_log.flush()

    def close(self) -> None:
        """The final diagnosis check and report, then closes the event file and metrics.csv."""
        if self.diagnosis is not None and self.diagnosis.last_step:
            for finding in self.diagnosis.finish():
                log.warning(finding.line())
            self._write_diagnosis(self.diagnosis.last_step)
        self.run_log.close()

    def state_dict(self) -> dict:
        """What a checkpoint needs to continue the windows, the summary and the diagnosis."""
        return {
            "latest": dict(self.latest),
            "total_grad_norm": self._total_grad_norm,
            "scalar_window": self._scalar_window.state_dict(),
            "console_window": self._console_window.state_dict(),
            "diagnosis": None if self.diagnosis is None else self.diagnosis.state_dict(),
        }

    def load_state_dict(self, state: dict) -> None:
        self.latest = dict(state["latest"])
        self._total_grad_norm = state["total_grad_norm"]
        self._scalar_window.load_state_dict(state["scalar_window"])
        self._console_window.load_state_dict(state["console_window"])
        # checkpoints written before the diagnosis was saved start it afresh
        if self.diagnosis is not None and state.get("diagnosis") is not None:
            self.diagnosis.load_state_dict(state["diagnosis"])


class _Window:
    """Sums of the training loss and angle over the steps since it was last closed."""

    def __init__(self, device: torch.device):
        self._loss = torch.zeros((), device=device)
        self._angle = torch.zeros((), device=device)
        self.steps, self._start = 0, time.perf_counter()

    def add(self, loss: torch.Tensor, angle: torch.Tensor) -> None:
        self._loss += loss
        self._angle += angle
        self.steps += 1

    def state_dict(self) -> dict:
        return {
            "loss": self._loss.cpu().clone(),
            "angle": self._angle.cpu().clone(),
            "steps": self.steps,
        }

    def load_state_dict(self, state: dict) -> None:
        self._loss.copy_(state["loss"])
        self._angle.copy_(state["angle"])
        self.steps = state["steps"]

    def seconds(self) -> float:
        return time.perf_counter() - self._start

    def close(self) -> dict[str, float]:
        """The window's means (one host read), then starts a new window."""
        loss, angle = torch.stack((self._loss, self._angle)).tolist()
        metrics = {
            "train/loss": loss / self.steps,
            "train/angular_error_deg": angle / self.steps,
        }
        self._loss.zero_()
        self._angle.zero_()
        self.steps, self._start = 0, time.perf_counter()
        return metrics
