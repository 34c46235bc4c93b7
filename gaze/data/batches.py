"""Batches indexed by training step, so the data order is a function of (seed, step) alone."""

import torch
from torch.utils.data import DataLoader, Sampler


class StepBatchSampler(Sampler):
    """Yields index batches for steps `start_step`, `start_step + 1`, ... `steps - 1`.

    Each epoch is a fresh permutation drawn from a generator seeded with (seed, epoch); the
    incomplete last batch of an epoch is dropped (BatchNorm dislikes tiny batches) unless the
    data set is smaller than one batch, in which case every batch is the whole set.
    """

    def __init__(self, size: int, batch_size: int, seed: int, steps: int, start_step: int = 0):
        self.size, self.seed = size, seed
        self.batch_size = min(batch_size, size)
        self.batches_per_epoch = size // self.batch_size
        self.steps, self.start_step = steps, start_step

    def __len__(self) -> int:
        return self.steps - self.start_step

    def _epoch_order(self, epoch: int) -> torch.Tensor:
        generator = torch.Generator().manual_seed(self.seed * 1_000_003 + epoch)
        return torch.randperm(self.size, generator=generator)

    def __iter__(self):
        epoch, order = None, None
        for step in range(self.start_step, self.steps):
            step_epoch, position = divmod(step, self.batches_per_epoch)
            if step_epoch != epoch:
                epoch, order = step_epoch, self._epoch_order(step_epoch)
            start = position * self.batch_size
            yield order[start : start + self.batch_size].tolist()


def make_loader(dataset, sampler: Sampler, workers: int = 0) -> DataLoader:
    """A DataLoader that fetches each batch with one call to the data set's __getitems__."""
    # its own generator: without one, each new iterator draws a worker seed from the global
    # random state, and a resumed run would then draw different random numbers than the original
    return DataLoader(
        dataset,
        batch_sampler=sampler,
        collate_fn=_as_batch,
        num_workers=workers,
        pin_memory=False,
        generator=torch.Generator().manual_seed(0),
    )


def _as_batch(batch):
    return batch
