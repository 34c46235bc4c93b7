"""Per-parameter gradient and weight statistics, computed by torch on the tensors' own device.

Every statistic is gathered into one tensor per call and copied to the host once: the naive
way (every gradient and weight to numpy, every step) costs several times the training step.
On CUDA the norms use torch's multi-tensor (`_foreach_*`) kernels; on the CPU, where those are
a plain loop over slow reduction kernels, each tensor goes through a few vectorised BLAS-backed
reductions instead (dot products and sums) and one elementwise pass into a reused buffer.
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


# tensors up to this many elements are measured together: below it, a call's overhead is
# larger than its work
SMALL_TENSOR = 16384


class ParameterMonitor:
    """Measures every trainable parameter of `model` and its gradient."""

    def __init__(self, model: nn.Module, bins: int = 64):
        named = [(n, p) for n, p in model.named_parameters() if p.requires_grad]
        self.names = [n for n, _ in named]
        self.params = [p for _, p in named]
        self.numels = torch.tensor([p.numel() for p in self.params], dtype=torch.float64)
        self.bins = bins
        self._before_update: list[torch.Tensor] | None = None
        self._before_norm: torch.Tensor | None = None  # (P,) on the CPU
        self._largest = max((p.numel() for p in self.params), default=0)
        self._buffers: dict[tuple, torch.Tensor] = {}
        # most tensors of a network are small (BatchNorm, biases): one call measures them all
        self._small = [i for i, p in enumerate(self.params) if p.numel() <= SMALL_TENSOR]
        self._large = [i for i, p in enumerate(self.params) if p.numel() > SMALL_TENSOR]
        self._segment_ids: dict[tuple, tuple[torch.Tensor, torch.Tensor]] = {}

    def _grads(self) -> list[torch.Tensor]:
        return [p.grad if p.grad is not None else torch.zeros_like(p) for p in self.params]

    def _weights(self) -> list[torch.Tensor]:
        return [p.detach() for p in self.params]

    def _fused(self) -> bool:
        # the multi-tensor kernels are fused only on CUDA; on the CPU they loop in C++
        return bool(self.params) and self.params[0].is_cuda

    def _buffer(self, like: torch.Tensor, dtype: torch.dtype = torch.float32) -> torch.Tensor:
        """A reused scratch tensor of `like`'s size, so the passes allocate nothing."""
        key = (like.device, dtype)
        if key not in self._buffers:
            self._buffers[key] = torch.empty(self._largest, dtype=dtype, device=like.device)
        return self._buffers[key][: like.numel()]

    @property
    def remembers_weights(self) -> bool:
        """Whether remember_weights() has run since the last update_ratio()."""
        return self._before_norm is not None

    @torch.no_grad()
    def remember_weights(self, weight_norm: torch.Tensor) -> None:
        """Copies the weights before an optimiser step, for the update-to-weight ratio.

        weight_norm: (P,) their L2 norms, as `parameter_stats()` has just measured them.
        """
        weights = self._weights()
        if self._before_update is None:
            self._before_update = [torch.empty_like(w) for w in weights]
        torch._foreach_copy_(self._before_update, weights)
        self._before_norm = weight_norm.double().cpu()

    @torch.no_grad()
    def norms(self) -> tuple[torch.Tensor, torch.Tensor]:
        """(grad_norm, weight_norm): the L2 norms alone, each (P,) on the CPU."""
        grads, weights = self._grads(), self._weights()
        if self._fused():
            norms = torch.stack(torch._foreach_norm(grads + weights, 2)).double().cpu()
            return norms[: len(grads)], norms[len(grads) :]
        squares = torch.empty(2, len(self.params), dtype=torch.float64)
        if self._small:
            values = torch.stack((self._concatenated(grads), self._concatenated(weights)), dim=1)
            lengths, _ = self._segments(values.device)
            sums = torch.segment_reduce(values * values, "sum", lengths=lengths, axis=0)
            squares[:, self._small] = sums.T.double()
        if self._large:
            large = [
                torch.stack((_sum_squares(grads[i]), _sum_squares(weights[i]))) for i in self._large
            ]
            squares[:, self._large] = torch.stack(large, dim=1).double()
        grad_norm, weight_norm = squares.sqrt()
        return grad_norm, weight_norm

    @torch.no_grad()
    def parameter_stats(self) -> ParameterStats:
        """Norms and summary statistics of every gradient and weight, in few fused passes."""
        grads, weights = self._grads(), self._weights()
        if self._fused():
            grad_l2 = torch.stack(torch._foreach_norm(grads, 2)).double()
            rows = [
                grad_l2.square(),
                torch.stack(torch._foreach_norm(grads, 1)),
                torch.stack(torch._foreach_norm(grads, 0)),
                torch.stack(torch._foreach_norm(weights, 2)).double().square(),
                torch.stack([w.sum() for w in weights]),
            ]
            host = torch.stack([r.double() for r in rows]).cpu()
        else:
            host = self._stats_by_group(grads, weights)
        grad_squares, grad_l1, grad_nonzero, weight_squares, weight_sum = host
        mean = weight_sum / self.numels
        variance = (weight_squares / self.numels - mean**2).clamp(min=0)
        return ParameterStats(
            names=self.names,
            grad_norm=grad_squares.sqrt(),
            grad_abs_mean=grad_l1 / self.numels,
            grad_zero_fraction=1 - grad_nonzero / self.numels,
            weight_norm=weight_squares.sqrt(),
            weight_std=variance.sqrt(),
        )

    def _segments(self, device: torch.device, copies: int = 1) -> tuple[torch.Tensor, ...]:
        """(lengths, index of each element's tensor) of `copies` small-tensor concatenations."""
        key = (device, copies)
        if key not in self._segment_ids:
            lengths = torch.tensor([self.params[i].numel() for i in self._small], device=device)
            lengths = lengths.repeat(copies)
            positions = torch.arange(len(lengths), device=device)
            self._segment_ids[key] = (lengths, torch.repeat_interleave(positions, lengths))
        return self._segment_ids[key]

    def _concatenated(self, tensors: list[torch.Tensor]) -> torch.Tensor:
        return torch.cat([tensors[i].reshape(-1) for i in self._small]).float()

    def _stats_by_group(self, grads, weights) -> torch.Tensor:
        """(5, P) statistics: the small tensors in one concatenation, the large one by one."""
        rows = torch.empty(5, len(self.params), dtype=torch.float64)
        if self._small:
            grad, weight = self._concatenated(grads), self._concatenated(weights)
            values = torch.stack(
                (grad * grad, grad.abs(), (grad != 0).float(), weight * weight, weight), dim=1
            )
            lengths, _ = self._segments(grad.device)
            sums = torch.segment_reduce(values, "sum", lengths=lengths, axis=0)
            rows[:, self._small] = sums.T.double().cpu()
        if self._large:
            large = [self._tensor_stats(grads[i], weights[i]) for i in self._large]
            rows[:, self._large] = torch.stack([torch.stack(r).double() for r in large], dim=1)
        return rows

    def _tensor_stats(self, grad: torch.Tensor, weight: torch.Tensor) -> list[torch.Tensor]:
        """Sum of squares, L1 and non-zero count of `grad`; sum of squares and sum of `weight`."""
        grad, weight = _flat32(grad), _flat32(weight)
        # |g| into scratch: its sum is the L1 norm, and with the sign bit cleared a value is
        # zero (+0 or -0) exactly when its bits are, which the integer count tests fastest
        magnitude = torch.abs(grad, out=self._buffer(grad))
        nonzero = torch.count_nonzero(magnitude.view(torch.int32))
        values = [_sum_squares(grad), magnitude.sum(), nonzero, _sum_squares(weight), weight.sum()]
        return [v.float() for v in values]

    @torch.no_grad()
    def update_ratio(self) -> torch.Tensor:
        """||w_after - w_before|| / ||w_before|| per parameter since remember_weights()."""
        if self._before_norm is None:
            raise RuntimeError("update_ratio() needs remember_weights() before the step")
        # the remembered copy becomes the change, in place: no new tensors
        torch._foreach_sub_(self._before_update, self._weights())
        change = torch.stack(torch._foreach_norm(self._before_update, 2)).double().cpu()
        ratio = change / self._before_norm.clamp(min=1e-30)
        self._before_norm = None
        return ratio

    @torch.no_grad()
    def histograms(self) -> dict[str, Histogram]:
        """Histograms of every gradient (`gradient/<name>`) and weight (`weight/<name>`)."""
        grads, weights = self._grads(), self._weights()
        tags = [f"gradient/{n}" for n in self.names] + [f"weight/{n}" for n in self.names]
        tensors, count = grads + weights, len(self.params)

        # bin on the device against each tensor's own range, the small tensors together
        order, moments, counts = [], [], []
        if self._small:
            order += self._small + [count + i for i in self._small]
            group_moments, group_counts = self._group_histograms(grads, weights)
            moments.append(group_moments)
            counts.append(group_counts)
        for i in self._large + [count + i for i in self._large]:
            flat = _flat32(tensors[i])
            low, high = torch.aminmax(flat)
            order.append(i)
            counts.append(self._bin_counts(flat, low, high).float()[None])
            moments.append(torch.stack((low, high, flat.sum(), _sum_squares(flat)))[None])

        # one copy to the host; edges of every histogram at once, in float64
        host_moments = torch.empty(len(tensors), 4, dtype=torch.float64)
        host_counts = torch.empty(len(tensors), self.bins, dtype=torch.float64)
        host = torch.cat((torch.cat(moments), torch.cat(counts)), dim=1).double().cpu()
        host_moments[order], host_counts[order] = host[:, :4], host[:, 4:]
        low, high = host_moments[:, 0:1], host_moments[:, 1:2]
        edges = low + (high - low) * torch.linspace(0, 1, self.bins + 1, dtype=torch.float64)

        result = {}
        for tag, values, row, tensor_edges, bin_counts in zip(
            tags, tensors, host_moments.tolist(), edges.tolist(), host_counts.tolist(), strict=True
        ):
            low, high, total, squares = row
            result[tag] = Histogram(
                low, high, values.numel(), total, squares, tensor_edges, bin_counts
            )
        return result

    def _group_histograms(self, grads, weights) -> tuple[torch.Tensor, torch.Tensor]:
        """(2S, 4) moments and (2S, bins) counts of the S small gradients, then weights."""
        values = torch.cat((self._concatenated(grads), self._concatenated(weights)))
        lengths, segments = self._segments(values.device, copies=2)
        tensors = len(lengths)
        low = torch.segment_reduce(values, "min", lengths=lengths)
        high = torch.segment_reduce(values, "max", lengths=lengths)
        pair = torch.stack((values, values * values), dim=1)
        sums = torch.segment_reduce(pair, "sum", lengths=lengths, axis=0).T

        # each value's bin, offset by its tensor's place, so one count covers every tensor
        scale = self._scale(low, high)
        index = ((values - low[segments]) * scale[segments]).nan_to_num_(0.0)
        index = index.clamp_(0, self.bins - 1).long() + segments * self.bins
        if values.is_cuda:
            counts = torch.zeros(tensors * self.bins, device=values.device)
            counts.index_add_(0, index, torch.ones_like(values))
        else:
            counts = torch.bincount(index, minlength=tensors * self.bins)
        moments = torch.stack((low, high, sums[0], sums[1]), dim=1)
        return moments, counts.view(tensors, self.bins).float()

    def _bin_counts(self, flat: torch.Tensor, low: torch.Tensor, high: torch.Tensor):
        """(bins,) counts of `flat` over `bins` equal bins from `low` to `high` (0-dim tensors)."""
        # x - low first: exact for values close together, where x * scale - low * scale is not
        index = torch.sub(flat, low, out=self._buffer(flat)).mul_(self._scale(low, high))
        if flat.is_cuda:
            # scatter-add needs no host sync (bincount reads its input's maximum on the host)
            index.nan_to_num_(0.0).clamp_(0, self.bins - 1)
            counts = torch.zeros(self.bins, dtype=torch.float32, device=flat.device)
            return counts.index_add_(0, index.long(), torch.ones_like(index))
        # the CPU counts small integers fastest as bytes; the maximum lands on `bins` itself and
        # joins the last bin afterwards, so no clamping pass is needed
        # NOTE: a NaN converts to an arbitrary byte; a NaN tensor's min and max are NaN anyway
        small = self._buffer(flat, torch.uint8).copy_(index)
        counts = torch.bincount(small, minlength=self.bins + 1)[: self.bins + 1]
        return torch.cat((counts[: self.bins - 1], counts[self.bins - 1 :].sum(0, keepdim=True)))

    def _scale(self, low: torch.Tensor, high: torch.Tensor) -> torch.Tensor:
        """bins / (high - low), kept finite for a constant or subnormal-width tensor."""
        smallest = self.bins * torch.finfo(torch.float32).tiny
        return self.bins / (high - low).clamp(min=smallest)


def _flat32(values: torch.Tensor) -> torch.Tensor:
    return values.reshape(-1).float()


def _sum_squares(values: torch.Tensor) -> torch.Tensor:
    flat = _flat32(values)
    return torch.dot(flat, flat)
