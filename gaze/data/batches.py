"""Batches indexed by training step, so the data order is a function of (seed, step) alone."""

import torch
from torch.utils.data import DataLoader, Sampler

from gaze.errors import ConfigError


class StepBatchSampler(Sampler):
    """Yields index batches for steps `start_step`, `start_step + 1`, ... `steps - 1`.

    Each epoch is a fresh permutation drawn from a generator seeded with (seed, epoch); the
    incomplete last batch of an epoch is dropped (BatchNorm dislikes tiny batches) unless the
    data set is smaller than one batch, in which case every batch is the whole set.
    `batch_size` is the global batch: with `world_size` processes, process `rank` gets the
    rank-th of `world_size` equal consecutive slices of it, so the global batch of a step is the
    same however many processes share it.
    """

    def __init__(
        self,
        size: int,
        batch_size: int,
        seed: int,
        steps: int,
        start_step: int = 0,
        rank: int = 0,
        world_size: int = 1,
    ):
        self.size, self.seed = size, seed
        self.batch_size = min(batch_size, size)
        self.batches_per_epoch = size // self.batch_size
        self.steps, self.start_step = steps, start_step
        if self.batch_size % world_size:
            raise ConfigError(
                f"train.batch_size={batch_size} gives a global batch of {self.batch_size} samples, "
                f"which does not split evenly over {world_size} processes; "
                f"use a batch size (and data.subset) divisible by {world_size}"
            )
        self.rank_size = self.batch_size // world_size
        self.rank_offset = rank * self.rank_size

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
            start = position * self.batch_size + self.rank_offset
            yield order[start : start + self.rank_size].tolist()


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
