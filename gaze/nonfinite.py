"""Stopping a run at the first NaN or Inf in its loss or gradients."""

from typing import NoReturn

import torch


class NonFiniteError(RuntimeError):
    """A NaN or Inf at `step`, first seen in `parameter`'s gradient (or weight), or the loss."""

    def __init__(self, step: int, parameter: str | None, where: str = "gradient"):
        self.step, self.parameter = step, parameter
        source = f"the {where} of {parameter}" if parameter else "the loss"
        super().__init__(
            f"non-finite value (NaN or Inf) at step {step} in {source}; the run stopped there, "
            "its last checkpoint holds the last good step"
        )


class FiniteGuard:
    """Checks the loss and gradients without adding a host synchronisation to ordinary steps.

    Gradients are checked on statistics steps from the per-parameter norms the recorder copies
    to the host anyway (a NaN or Inf anywhere in a tensor makes its L2 norm non-finite), before
    the optimiser applies them. The loss is watched every step on its own device; the host reads
    that flag only when a window's mean loss comes out non-finite, or before a checkpoint.
    """

    def __init__(self, names: list[str], device: torch.device):
        self.names = names
        self._first_bad_loss_step = torch.zeros((), dtype=torch.long, device=device)

    def watch_loss(self, step: int, loss: torch.Tensor) -> None:
        """Remembers `step` on the device if it is the first with a non-finite loss."""
        first = self._first_bad_loss_step
        self._first_bad_loss_step = torch.where(
            (first == 0) & ~torch.isfinite(loss.detach()), step, first
        )

    def check_loss(self) -> None:
        """Raises NonFiniteError if any loss watched so far was non-finite (one host read)."""
        step = int(self._first_bad_loss_step)
        if step:
            stop(step, None)

    def check_gradients(self, step: int, grad_norm: torch.Tensor) -> None:
        """Raises NonFiniteError naming the first parameter whose gradient norm is non-finite.

        grad_norm: (P,) host tensor of per-parameter L2 norms, in the order of `names`.
        """
        # NOTE: a gradient whose L2 norm overflows float32 (above ~3e38) counts as non-finite;
        # the optimiser step would be as broken as with an Inf.
        bad = torch.nonzero(~torch.isfinite(grad_norm))
        if len(bad):
            stop(step, self.names[int(bad[0])])

    @staticmethod
    @torch.no_grad()
    def check_weights(step: int, names: list[str], params: list[torch.Tensor]) -> None:
        """Raises NonFiniteError naming the first parameter whose weights are non-finite."""
        # isfinite per element, not a norm: huge but finite weights must not count as broken
        finite = torch.stack([torch.isfinite(p).all() for p in params]).cpu()
        bad = torch.nonzero(~finite)
        if len(bad):
            stop(step, names[int(bad[0])], where="weight")


def stop(step: int, parameter: str | None, where: str = "gradient") -> NoReturn:
    """The one place a run is stopped for a non-finite value."""
    raise NonFiniteError(step, parameter, where)
