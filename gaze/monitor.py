"""Per-parameter gradient and weight statistics, computed by torch on the tensors' own device.

Every statistic is gathered into one tensor per call and copied to the host once: the naive
way (every gradient and weight to numpy, every step) costs several times the training step.
"""

from dataclasses import dataclass

import torch
from torch import nn


@dataclass
class ParameterStats:
    """Statistics of one step, on the CPU, each a (P,) tensor in the order of `names`."""

    names: list[str]
    grad_norm: torch.Tensor
    grad_abs_mean: torch.Tensor
    grad_zero_fraction: torch.Tensor
    weight_norm: torch.Tensor
    weight_std: torch.Tensor
    update_ratio: torch.Tensor | None = None

    @property
    def total_grad_norm(self) -> float:
        return float(torch.linalg.vector_norm(self.grad_norm))

    def scalars(self) -> dict[str, float]:
        """The TensorBoard scalar tags of these statistics."""
        tags = {"grad_norm/total": self.total_grad_norm}
        tags.update(
            {f"grad_norm/{n}": v for n, v in zip(self.names, self.grad_norm.tolist(), strict=True)}
        )
        tags.update(
            {
                f"weight_norm/{n}": v
                for n, v in zip(self.names, self.weight_norm.tolist(), strict=True)
            }
        )
        return tags


@dataclass
class Histogram:
    """One tensor's distribution: `counts` (B,) over `edges` (B + 1,), with its moments."""

    minimum: float
    maximum: float
    count: int
    total: float
    sum_squares: float
    edges: list[float]
    counts: list[float]


class ParameterMonitor:
    """Measures every trainable parameter of `model` and its gradient."""

    def __init__(self, model: nn.Module, bins: int = 64):
        named = [(n, p) for n, p in model.named_parameters() if p.requires_grad]
        self.names = [n for n, _ in named]
        self.params = [p for _, p in named]
        self.numels = torch.tensor([p.numel() for p in self.params], dtype=torch.float64)
        self.bins = bins
        self._before_update: list[torch.Tensor] | None = None

    def _grads(self) -> list[torch.Tensor]:
        return [p.grad if p.grad is not None else torch.zeros_like(p) for p in self.params]

    def remember_weights(self) -> None:
        """Copies the weights before an optimiser step, for the update-to-weight ratio."""
        with torch.no_grad():
            self._before_update = torch._foreach_mul([p.detach() for p in self.params], 1.0)

    @torch.no_grad()
    def parameter_stats(self) -> ParameterStats:
        """Norms and summary statistics of every gradient and weight, in few fused passes."""
        grads, weights = self._grads(), [p.detach() for p in self.params]
        rows = [
            torch.stack(torch._foreach_norm(grads, 2)),
            torch.stack(torch._foreach_norm(grads, 1)),
            torch.stack(torch._foreach_norm(grads, 0)),
            torch.stack(torch._foreach_norm(weights, 2)),
            torch.stack([w.sum() for w in weights]),
        ]
        host = torch.stack([r.float() for r in rows]).double().cpu()
        grad_l2, grad_l1, grad_nonzero, weight_l2, weight_sum = host
        mean = weight_sum / self.numels
        variance = (weight_l2**2 / self.numels - mean**2).clamp(min=0)
        return ParameterStats(
            names=self.names,
            grad_norm=grad_l2,
            grad_abs_mean=grad_l1 / self.numels,
            grad_zero_fraction=1 - grad_nonzero / self.numels,
            weight_norm=weight_l2,
            weight_std=variance.sqrt(),
        )

    @torch.no_grad()
    def update_ratio(self) -> torch.Tensor:
        """||w_after - w_before|| / ||w_before|| per parameter since remember_weights()."""
        if self._before_update is None:
            raise RuntimeError("update_ratio() needs remember_weights() before the step")
        after = [p.detach() for p in self.params]
        change = torch.stack(torch._foreach_norm(torch._foreach_sub(after, self._before_update)))
        before = torch.stack(torch._foreach_norm(self._before_update))
        self._before_update = None
        return (change / before.clamp(min=1e-30)).double().cpu()

    @torch.no_grad()
    def histograms(self) -> dict[str, Histogram]:
        """Histograms of every gradient (`gradient/<name>`) and weight (`weight/<name>`)."""
        tensors = {f"gradient/{n}": g for n, g in zip(self.names, self._grads(), strict=True)}
        tensors.update(
            {f"weight/{n}": p.detach() for n, p in zip(self.names, self.params, strict=True)}
        )

        # bin on the device against each tensor's own range; one copy to the host at the end
        moments, counts = [], []
        for values in tensors.values():
            flat = values.reshape(-1).float()
            low, high = torch.aminmax(flat)
            width = (high - low).clamp(min=torch.finfo(torch.float32).tiny)
            index = ((flat - low) / width * self.bins).long().clamp_(0, self.bins - 1)
            counts.append(torch.bincount(index, minlength=self.bins))
            moments.append(torch.stack((low, high, flat.sum(), flat.square().sum())))
        moments = torch.stack(moments).double().cpu()
        counts = torch.stack(counts).double().cpu()

        result = {}
        for (tag, values), (low, high, total, squares), bin_counts in zip(
            tensors.items(), moments.tolist(), counts, strict=True
        ):
            edges = torch.linspace(low, high, self.bins + 1).tolist()
            result[tag] = Histogram(
                low, high, values.numel(), total, squares, edges, bin_counts.tolist()
            )
        return result
