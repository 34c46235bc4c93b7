"""The rules of the diagnosis: each reads a window of statistics steps and may yield a Finding.

Each rule takes medians over the window (so one noisy step decides nothing) and, when it fires,
yields a `Finding`: the symptom, the evidence (parameter names and numbers), the likely cause
and a suggested fix, as a config override where one exists. Thresholds come from the `diagnose`
block of conf/train.yaml; their defaults follow published detectors of vanishing/exploding
gradients, dead ReLUs and update-to-weight ratios. `gaze.diagnose.Diagnosis` feeds the window
and keeps the findings.
"""

import math
from dataclasses import dataclass, field

import torch

from gaze.monitor import ParameterStats

# rules in the order a report lists them: causes before the symptoms they explain
RULES = (
    "non_finite",
    "input_not_normalized",
    "exploding_gradients",
    "lr_too_high",
    "vanishing_gradients",
    "near_zero_weights",
    "dead_relus",
    "lr_too_low",
    "not_generalizing",
    "loss_not_decreasing",
    "loss_at_baseline",
)


@dataclass
class Finding:
    """One thing a rule found: what is seen, the numbers, why it likely happens, what to try."""

    rule: str
    symptom: str
    evidence: str
    cause: str
    fix: str
    first_step: int
    last_step: int
    parameters: list[str] = field(default_factory=list)
    active: bool = True

    def line(self) -> str:
        """The finding as one log line."""
        return (
            f"diagnosis: {self.symptom} at step {self.first_step} | {self.evidence}"
            f" | likely cause: {self.cause} | try: {self.fix}"
        )


@dataclass
class Observation:
    step: int
    loss: float
    stats: ParameterStats


class Rules:
    """The rules, as methods of the diagnosis that runs them (`gaze.diagnose.Diagnosis`).

    They read its `cfg` (the `diagnose` block), `names`, `is_kernel`, `numels`, `lr`,
    `baseline_loss`, `data` (`data_statistics`), `validation` (the latest validation pass) and
    `window` (the recent `Observation`s), and change none of them.
    """

    def _medians(self, field_name: str) -> torch.Tensor | None:
        """(P,) median over the window of one ParameterStats field; None where never measured."""
        rows = [getattr(o.stats, field_name) for o in self.window]
        rows = [r for r in rows if r is not None]
        if not rows:
            return None
        return torch.stack([r.double() for r in rows]).median(dim=0).values

    def _evaluate(self, step: int) -> list[Finding]:
        grad_norm = self._medians("grad_norm")
        vanishing = grad_norm < self.cfg.vanishing_grad_norm
        fired = [
            self._input_not_normalized(step),
            self._exploding(step, grad_norm),
            self._vanishing(step, grad_norm, vanishing),
            self._near_zero_weights(step),
            self._dead_relus(step, vanishing),
        ]
        fired += self._learning_rate(step, vanishing)
        fired.append(self._not_generalizing(step))
        fired = [f for f in fired if f is not None]
        # the loss rules: a flat loss that the gradients or inputs explain is not a second fault
        explained = {
            "input_not_normalized", "exploding_gradients", "lr_too_high", "vanishing_gradients",
            "dead_relus",
        }  # fmt: skip
        if step >= self.cfg.warmup_steps and len(self.window) == self.window.maxlen:
            gradients_explain = bool(explained & {f.rule for f in fired})
            at_baseline = self._loss_at_baseline(step)
            if not gradients_explain:
                fired.append(self._loss_not_decreasing(step))
            fired.append(at_baseline)
        return [f for f in fired if f is not None]

    def _non_finite(self, step: int, loss: float, stats: ParameterStats) -> Finding:
        bad_grad = ~torch.isfinite(stats.grad_norm)
        bad_weight = ~torch.isfinite(stats.weight_norm)
        names = [n for n, b in zip(self.names, (bad_grad | bad_weight).tolist(), strict=True) if b]
        first = names[0] if names else None
        if not math.isfinite(loss):
            symptom = f"non-finite loss ({loss})"
        else:
            symptom = "non-finite gradients with a finite loss"
        evidence = (
            f"loss {loss:.4g}; {int(bad_grad.sum())} of {len(self.names)} gradients and "
            f"{int(bad_weight.sum())} weights are inf/nan; first parameter affected: {first}"
        )
        if bool(bad_weight.any()):
            cause = "an earlier update wrote inf/nan into the weights (a too large step)"
            fix = f"train.lr={self.lr / 10:g}"
        else:
            cause = (
                "the loss or its backward pass divides by zero or takes sqrt/log of a value "
                "that reached 0 (or below)"
            )
            fix = "fault=none (gaze.loss.l2_gaze_loss has a finite gradient everywhere)"
        return Finding("non_finite", symptom, evidence, cause, fix, step, step, names[:10])

    def _input_not_normalized(self, step: int) -> Finding | None:
        mean, std = self.data["input_mean"], self.data["input_std"]
        limit = self.cfg.input_mean_limit
        if abs(mean) <= limit and 1 / limit <= std <= limit:
            return None
        return Finding(
            "input_not_normalized",
            "input not normalised",
            f"the training images reach the network with mean {mean:.3g} and std {std:.3g} "
            f"(a normalised input has about 0 and 1; limit {limit:g})",
            "the pixels are fed raw (0-255) or with the wrong mean/std",
            "data.mean and data.std set to the training pixels' mean and std "
            "(conf/data/synthetic.yaml: data.mean=160 data.std=50)",
            step,
            step,
        )

    def _first_last(self) -> tuple[int, int]:
        kernels = torch.nonzero(self.is_kernel).flatten().tolist()
        return kernels[0], kernels[-1]

    def _exploding(self, step: int, grad_norm: torch.Tensor) -> Finding | None:
        first, last = self._first_last()
        ratio = float(grad_norm[first] / grad_norm[last]) if grad_norm[last] > 0 else math.nan
        largest = int(torch.argmax(grad_norm))
        too_large = float(grad_norm[largest]) > self.cfg.exploding_grad_norm
        if not (ratio > self.cfg.exploding_ratio or too_large):
            return None
        evidence = (
            f"median gradient norm {grad_norm[first]:.2e} at {self.names[first]} against "
            f"{grad_norm[last]:.2e} at {self.names[last]} (ratio {_ratio_text(ratio)}, limit "
            f"{self.cfg.exploding_ratio:g}); largest {grad_norm[largest]:.2e} at "
            f"{self.names[largest]} (limit {self.cfg.exploding_grad_norm:g})"
        )
        return Finding(
            "exploding_gradients",
            "exploding gradients",
            evidence,
            "gradients grow on their way back to the input: weights too large, inputs not "
            "normalised, or a learning rate that blew the weights up",
            f"train.lr={self.lr / 10:g} or init=kaiming",
            step,
            step,
            [self.names[first], self.names[largest]],
        )

    def _vanishing(self, step: int, grad_norm, vanishing) -> Finding | None:
        first, last = self._first_last()
        ratio = float(grad_norm[first] / grad_norm[last]) if grad_norm[last] > 0 else math.nan
        share = float(vanishing.double().mean())
        if not (share >= self.cfg.vanishing_share or ratio < self.cfg.vanishing_ratio):
            return None
        hit = [n for n, v in zip(self.names, vanishing.tolist(), strict=True) if v]
        span = f"from {hit[0]} to {hit[-1]}" if hit else "none below the norm limit"
        evidence = (
            f"{len(hit)} of {len(self.names)} gradient tensors ({share:.0%}) have a median norm "
            f"below {self.cfg.vanishing_grad_norm:g}, {span}; first-to-last layer ratio "
            f"{_ratio_text(ratio)} (limit {self.cfg.vanishing_ratio:g})"
        )
        return Finding(
            "vanishing_gradients",
            "vanishing gradients",
            evidence,
            "a layer near the output multiplies the backward signal by ~0 (near-zero weights), "
            "so the layers before it receive no gradient",
            "init=kaiming",
            step,
            step,
            hit[:1] + hit[-1:],
        )

    def _near_zero_weights(self, step: int) -> Finding | None:
        stats = self.window[-1].stats
        variance = stats.weight_std.double() ** 2
        degenerate = (variance < self.cfg.weight_variance) & self.is_kernel
        if not bool(degenerate.any()):
            return None
        hit = [i for i, d in enumerate(degenerate.tolist()) if d]
        # the one nearest the output blocks the gradient of every layer before it
        worst = hit[-1]
        rms = float(stats.weight_norm[worst] / self.numels[worst].sqrt())
        evidence = (
            f"{len(hit)} of {int(self.is_kernel.sum())} weight tensors have variance below "
            f"{self.cfg.weight_variance:g}; nearest the output: {self.names[worst]} with RMS "
            f"{rms:.2g} and variance {float(variance[worst]):.2g}"
        )
        return Finding(
            "near_zero_weights",
            f"near-zero weights at {self.names[worst].removesuffix('.weight')}",
            evidence,
            "the weights were initialised (or decayed) to about 0; a near-zero layer passes "
            "almost no signal forward and almost no gradient back",
            "init=kaiming",
            step,
            step,
            [self.names[i] for i in hit[-1:]] + [self.names[i] for i in hit[:-1]][:9],
        )

    def _dead_relus(self, step: int, vanishing) -> Finding | None:
        zero_fraction = self._medians("grad_zero_fraction")
        # a gradient that is zero everywhere is vanishing, not dead units
        dead = (zero_fraction >= self.cfg.dead_zero_fraction) & self.is_kernel & ~vanishing
        # a network that still learns with few live units is sparse, not broken: silent units
        # are a finding only where the loss has stalled
        if not bool(dead.any()) or not self._stall()[0]:
            return None
        hit = [i for i, d in enumerate(dead.tolist()) if d]
        listed = ", ".join(f"{self.names[i]} {float(zero_fraction[i]):.0%}" for i in hit[:5])
        return Finding(
            "dead_relus",
            "dead ReLUs",
            f"{len(hit)} weight tensors have >= {self.cfg.dead_zero_fraction:.0%} exactly-zero "
            f"gradient entries: {listed}",
            "units whose input is negative for every sample never pass a gradient (often "
            "after a too large update)",
            f"train.lr={self.lr / 10:g} or init=kaiming",
            step,
            step,
            [self.names[i] for i in hit[:10]],
        )

    def _learning_rate(self, step: int, vanishing) -> list[Finding]:
        ratio = self._medians("update_ratio")
        if ratio is None:
            return []
        # a weight that receives no gradient cannot move whatever the learning rate
        usable = self.is_kernel & ~vanishing & torch.isfinite(ratio)
        if not bool(usable.any()):
            return []
        median = float(ratio[usable].median())
        largest = int(torch.argmax(torch.where(usable, ratio, -1.0)))
        evidence = (
            f"median update-to-weight ratio {median:.2e} over {int(usable.sum())} weight tensors "
            f"(healthy {self.cfg.update_ratio_low:g} to {self.cfg.update_ratio_high:g}); "
            f"largest {float(ratio[largest]):.2e} at {self.names[largest]}"
        )
        if median > self.cfg.update_ratio_high:
            return [
                Finding(
                    "lr_too_high",
                    "learning rate too high",
                    evidence,
                    f"each step changes the weights by more than "
                    f"{self.cfg.update_ratio_high:.0%} of their size (train.lr={self.lr:g})",
                    f"train.lr={self.lr / 30:.1g}",
                    step,
                    step,
                    [self.names[largest]],
                )
            ]
        if median < self.cfg.update_ratio_low:
            return [
                Finding(
                    "lr_too_low",
                    "learning rate too low",
                    evidence,
                    f"each step barely changes the weights (train.lr={self.lr:g})",
                    f"train.lr={self.lr * 10:g}",
                    step,
                    step,
                )
            ]
        return []

    def _chance_correlation(self) -> float | None:
        """The largest validation gaze correlation that chance explains; None without one.

        The standard error of the mean of the pitch and yaw correlations of n samples is about
        1 / sqrt(2 n); chance is `chance_sigmas` of them.
        """
        val, size = self.validation, self.data.get("val_size", 0)
        if val is None or "gaze_correlation" not in val or size < 3:
            return None
        return self.cfg.chance_sigmas / math.sqrt(2 * size)

    def _not_generalizing(self, step: int) -> Finding | None:
        chance, val, size = self._chance_correlation(), self.validation, self.data.get("val_size")
        if chance is None:
            return None
        if val["step"] < self.cfg.warmup_steps or len(self.window) < self.window.maxlen:
            return None
        # the training loss must have left the baseline: the network learns something...
        _, later = self._halves()
        if not later < (1 - self.cfg.baseline_tolerance) * self.baseline_loss:
            return None
        # ...that does not carry over: on held-out samples its predictions are uncorrelated
        # with the labels, up to chance
        correlation = val["gaze_correlation"]
        if not correlation <= chance:
            return None
        val_baseline = self.data["val_baseline_loss"]
        return Finding(
            "not_generalizing",
            "training loss falls, validation predictions do not follow the labels",
            f"validation gaze correlation {correlation:.2f} at step {val['step']} over {size} "
            f"samples, within chance (<= {chance:.2f}, {self.cfg.chance_sigmas:g} standard "
            f"errors); validation loss {val['loss']:.4f} against its baseline "
            f"{val_baseline:.4f}, while the training loss fell to {later:.4f} "
            f"({later / self.baseline_loss:.0%} of its baseline {self.baseline_loss:.4f})",
            "the network memorises its training labels without a mapping that holds on new "
            "images: the labels do not match the images (shuffled, misaligned or from another "
            "file), or the training set is too small to learn from",
            "check the labels against the images (scripts/render_samples.py draws them; "
            "fault=none); then more training samples (data.subset=null)",
            step,
            step,
        )

    def _halves(self) -> tuple[float, float]:
        losses = [o.loss for o in self.window]
        if len(losses) < 2:
            return losses[0], losses[0]
        middle = len(losses) // 2
        return sum(losses[:middle]) / middle, sum(losses[middle:]) / (len(losses) - middle)

    def _stall(self) -> tuple[bool, float, float, float]:
        """Whether the loss has stopped falling, with the two half means and their noise.

        Stalled: above `plateau_level` of the baseline (a loss far below it has converged),
        and a drop between the window's halves that, even plus two standard errors of the
        batch-to-batch noise, stays below `min_decrease`. A noisy loss is not called flat on
        the strength of one unlucky half.
        """
        losses = torch.tensor([o.loss for o in self.window], dtype=torch.float64)
        if len(losses) < 4:
            return False, float(losses.mean()), float(losses.mean()), math.inf
        first, second = losses[: len(losses) // 2], losses[len(losses) // 2 :]
        earlier, later = float(first.mean()), float(second.mean())
        noise = 2 * math.sqrt(float(first.var() / len(first) + second.var() / len(second)))
        if later < self.cfg.plateau_level * self.baseline_loss:
            return False, earlier, later, noise
        return earlier - later + noise < self.cfg.min_decrease * earlier, earlier, later, noise

    def _loss_not_decreasing(self, step: int) -> Finding | None:
        stalled, earlier, later, noise = self._stall()
        if not stalled:
            return None
        steps = f"steps {self.window[0].step}-{self.window[-1].step}"
        return Finding(
            "loss_not_decreasing",
            "loss not decreasing",
            f"mean training loss {earlier:.4f} then {later:.4f} over the two halves of {steps} "
            f"(a drop of {earlier - later:+.4f}, noise +-{noise:.4f}; needs "
            f"{self.cfg.min_decrease:.0%}), above {self.cfg.plateau_level:.0%} "
            f"of the baseline {self.baseline_loss:.4f}; the gradients look healthy",
            "the labels do not follow from the inputs (shuffled or misaligned labels), or the "
            "model cannot fit them",
            "check the labels against the images (fault=none); then a larger model.hidden",
            step,
            step,
        )

    def _loss_at_baseline(self, step: int) -> Finding | None:
        earlier, later = self._halves()
        tolerance = self.cfg.baseline_tolerance * self.baseline_loss
        if not all(abs(half - self.baseline_loss) <= tolerance for half in (earlier, later)):
            return None
        return Finding(
            "loss_at_baseline",
            "loss at the input-independent baseline",
            f"mean training loss {later:.4f} over steps {self.window[0].step}-"
            f"{self.window[-1].step}, within {self.cfg.baseline_tolerance:.0%} of "
            f"{self.baseline_loss:.4f}, the loss of always predicting the mean training gaze",
            "the network ignores its input and predicts one constant gaze",
            "init=kaiming when the gradients vanish; otherwise check the labels",
            step,
            step,
        )


def _ratio_text(ratio: float) -> str:
    return f"{ratio:.2g}" if math.isfinite(ratio) else "undefined (last layer gradient 0)"


def all_finite(stats: ParameterStats) -> bool:
    return bool(torch.isfinite(stats.grad_norm).all() and torch.isfinite(stats.weight_norm).all())
