"""The diagnosis of a run: feeds the rules its statistics, keeps their findings, reports them.

A `Diagnosis` collects the statistics steps of a run, runs the rules of
`gaze.diagnosis_rules` every `diagnose.every` steps and once at the end, logs each finding the
first time it appears, and writes diagnosis.json and diagnosis.md. It also checks the
`diagnose` config block and measures the data statistics the rules compare against.
"""

import json
import math
from collections import deque
from dataclasses import asdict
from pathlib import Path

import torch

from gaze.diagnosis_rules import RULES, Finding, Observation, Rules, all_finite
from gaze.errors import ConfigError
from gaze.monitor import ParameterStats

# the keys of the `diagnose` config block, with the kind of value each takes
_WHOLE_NUMBERS = ("every", "window", "warmup_steps")
_POSITIVE_NUMBERS = (
    "vanishing_grad_norm",
    "vanishing_ratio",
    "exploding_ratio",
    "exploding_grad_norm",
    "weight_variance",
    "update_ratio_low",
    "update_ratio_high",
    "baseline_tolerance",
    "min_decrease",
    "plateau_level",
    "input_mean_limit",
    "chance_sigmas",
)
_FRACTIONS = ("vanishing_share", "dead_zero_fraction")


def check_diagnose_config(diagnose_cfg) -> None:
    """Raises ConfigError naming the first `diagnose.*` key the rules cannot use."""
    for key in _WHOLE_NUMBERS:
        value = diagnose_cfg[key]
        if isinstance(value, bool) or not isinstance(value, int) or value < 1:
            raise ConfigError(f"diagnose.{key}={value!r} is not allowed; use a whole number >= 1")
    if diagnose_cfg.window < 4:
        raise ConfigError(f"diagnose.window={diagnose_cfg.window!r} is not allowed; use >= 4")
    for key in _POSITIVE_NUMBERS:
        value = diagnose_cfg[key]
        if isinstance(value, bool) or not isinstance(value, int | float) or not value > 0:
            raise ConfigError(f"diagnose.{key}={value!r} is not allowed; use a number > 0")
    for key in _FRACTIONS:
        value = diagnose_cfg[key]
        if isinstance(value, bool) or not isinstance(value, int | float) or not 0 < value <= 1:
            raise ConfigError(f"diagnose.{key}={value!r} is not allowed; use a number in (0, 1]")
    if not diagnose_cfg.update_ratio_low < diagnose_cfg.update_ratio_high:
        raise ConfigError(
            f"diagnose.update_ratio_low={diagnose_cfg.update_ratio_low!r} is not allowed; "
            f"use a number below diagnose.update_ratio_high={diagnose_cfg.update_ratio_high!r}"
        )


@torch.no_grad()
def data_statistics(dataset, val_set=None, chunk: int = 1024) -> dict[str, float]:
    """The baseline loss and input moments of a data set, in one pass over its batches.

    baseline_loss is the L2 gaze loss (radians) of always predicting the mean training gaze:
    the loss of a network that ignores its input. input_mean and input_std are those of the
    images as the network receives them (after normalisation). With `val_set`, also
    val_baseline_loss (the same constant prediction scored on it) and val_size.
    """
    count, pixel_sum, pixel_squares, gaze_parts = 0, 0.0, 0.0, []
    for start in range(0, len(dataset), chunk):
        images, gaze = dataset.__getitems__(list(range(start, min(start + chunk, len(dataset)))))
        images = images.double()
        count += images.numel()
        pixel_sum += float(images.sum())
        pixel_squares += float(images.square().sum())
        gaze_parts.append(gaze.double())
    gaze = torch.cat(gaze_parts)
    input_mean = pixel_sum / count
    statistics = {
        "baseline_loss": _constant_prediction_loss(gaze.mean(0), gaze),
        "input_mean": input_mean,
        "input_std": math.sqrt(max(pixel_squares / count - input_mean**2, 0.0)),
    }
    if val_set is not None and len(val_set):
        val_gaze = val_set.gaze.double()  # the labels only: no image is normalised for this
        statistics["val_baseline_loss"] = _constant_prediction_loss(gaze.mean(0), val_gaze)
        statistics["val_size"] = len(val_set)
    return statistics


def _constant_prediction_loss(prediction: torch.Tensor, gaze: torch.Tensor) -> float:
    return float(torch.linalg.vector_norm(gaze - prediction, dim=-1).mean())


class Diagnosis(Rules):
    """Collects statistics steps, runs the rules every `diagnose.every` steps, keeps findings.

    names and shapes: the parameters in the order of ParameterStats; lr: the learning rate the
    run uses (for the suggested fix); data: `data_statistics` of the training (and validation)
    set. Validation passes reach it through `observe_validation`.
    """

    def __init__(self, diagnose_cfg, names, shapes, lr: float, data: dict[str, float]):
        self.cfg, self.names, self.lr = diagnose_cfg, list(names), lr
        self.baseline_loss = data["baseline_loss"]
        self.data = data
        # matrices and kernels: biases and normalisation scales are legitimately constant
        self.is_kernel = torch.tensor([len(s) >= 2 for s in shapes])
        self.shapes = [list(s) for s in shapes]
        self.numels = torch.tensor([math.prod(s) for s in shapes], dtype=torch.float64)
        self.findings: dict[str, Finding] = {}
        self.window: deque[Observation] = deque(maxlen=diagnose_cfg.window)
        self.last_step, self.last_check = 0, 0
        self.summary: dict[str, list] = {}
        self.validation: dict[str, float] | None = None

    @classmethod
    def for_run(cls, diagnose_cfg, model, train_set, lr: float, val_set=None) -> "Diagnosis":
        """The diagnosis of a training run of `model` on `train_set`, validated on `val_set`."""
        named = [(n, p) for n, p in model.named_parameters() if p.requires_grad]
        shapes = [tuple(p.shape) for _, p in named]
        data = data_statistics(train_set, val_set)
        return cls(diagnose_cfg, [n for n, _ in named], shapes, lr, data)

    # -- feeding it ---------------------------------------------------------------------------

    def observe(self, step: int, loss: float, stats: ParameterStats) -> list[Finding]:
        """Adds one statistics step; returns the findings that appear for the first time."""
        self.window.append(Observation(step, float(loss), stats))
        self.last_step = step
        if not math.isfinite(loss) or not all_finite(stats):
            # checked at once: a run may stop at its first non-finite value
            return self._record(step, [self._non_finite(step, float(loss), stats)])
        if step % self.cfg.every == 0 or step == 1:
            return self.check(step)
        return []

    def observe_validation(self, step: int, metrics: dict[str, float]) -> None:
        """Keeps the latest validation pass (`gaze.evaluate.evaluate`'s metrics) for the rules."""
        self.validation = {"step": step, **metrics}

    def check(self, step: int) -> list[Finding]:
        """Runs every rule over the current window; returns the findings that are new."""
        self.last_check = step
        if not self.window:
            return []
        return self._record(step, self._evaluate(step))

    def finish(self, step: int | None = None) -> list[Finding]:
        """The check at the end of a run (unless the last step was already checked)."""
        step = self.last_step if step is None else step
        if step != self.last_check and "non_finite" not in self.findings:
            return self.check(step)
        return []

    def _record(self, step: int, fired: list[Finding]) -> list[Finding]:
        new = []
        for finding in self.findings.values():
            finding.active = False
        for finding in fired:
            known = self.findings.get(finding.rule)
            if known is None:
                self.findings[finding.rule] = finding
                new.append(finding)
            elif finding.rule == "non_finite":
                # the first step that went non-finite is the one that points at the cause
                finding = known
            else:
                # keep the first sighting's step, refresh the evidence
                finding.first_step = known.first_step
                self.findings[finding.rule] = finding
            finding.last_step = step
            finding.active = True
        if "non_finite" in self.findings and "non_finite" not in {f.rule for f in fired}:
            self.findings["non_finite"].active = True
        self.summary = self._parameter_summary()
        return new

    def state_dict(self) -> dict:
        """What a checkpoint needs for a resumed run to go on diagnosing as if never stopped."""
        return {
            "findings": [asdict(f) for f in self.findings.values()],
            "window": [(o.step, o.loss, asdict(o.stats)) for o in self.window],
            "last_step": self.last_step,
            "last_check": self.last_check,
            "validation": self.validation,
        }

    def load_state_dict(self, state: dict) -> None:
        self.findings = {f["rule"]: Finding(**f) for f in state["findings"]}
        self.window.clear()
        for step, loss, stats in state["window"]:
            self.window.append(Observation(step, loss, ParameterStats(**stats)))
        self.last_step, self.last_check = state["last_step"], state["last_check"]
        self.validation = state["validation"]
        self.summary = self._parameter_summary() if self.window else {}

    # -- the report ---------------------------------------------------------------------------

    def _parameter_summary(self) -> dict[str, list]:
        """Window medians of every statistic per parameter, for readers of diagnosis.json."""
        summary = {"name": self.names, "shape": self.shapes}
        for name in ("grad_norm", "grad_abs_mean", "grad_zero_fraction", "weight_std"):
            summary[name] = _floats(self._medians(name))
        ratio = self._medians("update_ratio")
        summary["update_ratio"] = _floats(ratio) if ratio is not None else [None] * len(self.names)
        return summary

    def ordered_findings(self) -> list[Finding]:
        """Findings, causes first (the order of RULES)."""
        return sorted(self.findings.values(), key=lambda f: RULES.index(f.rule))

    @property
    def healthy(self) -> bool:
        return not self.findings

    def as_dict(self) -> dict:
        final = self.window[-1].loss if self.window else None
        return {
            "verdict": "healthy" if self.healthy else "problems found",
            "checked_to_step": self.last_step,
            "baseline_loss": self.baseline_loss,
            "final_loss": final if final is None or math.isfinite(final) else str(final),
            "input_mean": self.data["input_mean"],
            "input_std": self.data["input_std"],
            "val_baseline_loss": self.data.get("val_baseline_loss"),
            "validation": self.validation,
            "findings": [asdict(f) for f in self.ordered_findings()],
            "thresholds": {k: self.cfg[k] for k in self.cfg},
            "parameters": self.summary,
        }

    def markdown(self) -> str:
        """The readable report: a verdict line, then one section per finding."""
        lines = ["# Diagnosis", ""]
        if self.healthy:
            lines.append(
                f"**Healthy**: no rule fired up to step {self.last_step} (checked every "
                f"{self.cfg.every} steps over windows of {self.cfg.window}). Training loss "
                f"{self.window[-1].loss:.4f} against the baseline "
                f"{self.baseline_loss:.4f} of predicting the mean gaze."
                + self._validation_sentence()
            )
            return "\n".join(lines) + "\n"
        count = len(self.findings)
        lines.append(
            f"**{count} problem{'s' if count > 1 else ''} found** up to step {self.last_step}, "
            "causes first:"
        )
        for finding in self.ordered_findings():
            still = "still holds at the end" if finding.active else "no longer holds at the end"
            lines += [
                "",
                f"## {finding.symptom}",
                "",
                f"- evidence: {finding.evidence}",
                f"- likely cause: {finding.cause}",
                f"- suggested fix: `{finding.fix}`",
                f"- seen: steps {finding.first_step}-{finding.last_step} ({still})",
            ]
        return "\n".join(lines) + "\n"

    def _validation_sentence(self) -> str:
        chance, val = self._chance_correlation(), self.validation
        if chance is None:
            return ""
        return (
            f" Validation at step {val['step']}: loss {val['loss']:.4f} against its baseline "
            f"{self.data['val_baseline_loss']:.4f}, gaze correlation "
            f"{val['gaze_correlation']:.2f} (chance up to {chance:.2f})."
        )

    def write(self, run_dir: Path) -> None:
        """Writes diagnosis.json and diagnosis.md into `run_dir`."""
        run_dir = Path(run_dir)
        (run_dir / "diagnosis.json").write_text(json.dumps(self.as_dict(), indent=2) + "\n")
        (run_dir / "diagnosis.md").write_text(self.markdown())


def _floats(values: torch.Tensor) -> list:
    return [v if math.isfinite(v) else str(v) for v in values.tolist()]
