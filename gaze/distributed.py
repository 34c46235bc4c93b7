"""One run on several processes (`torchrun`): the process group, DDP, and what rank 0 alone does.

torchrun starts every process with RANK, WORLD_SIZE and LOCAL_RANK in its environment; without
them the run is a single process and every function here is a no-op. Each process runs the
whole Hydra app; the `ShareRunDir` callback makes them agree on one run directory (rank 0's) and
keeps the other ranks from writing anything into it.
"""

import logging
import os

import torch
import torch.distributed as dist
from hydra.experimental.callback import Callback
from omegaconf import open_dict, read_write
from torch import nn
from torch.nn.parallel import DistributedDataParallel

from gaze.errors import exit_with_error

log = logging.getLogger(__name__)


def rank() -> int:
    return int(os.environ.get("RANK", "0"))


def world_size() -> int:
    return int(os.environ.get("WORLD_SIZE", "1"))


def is_distributed() -> bool:
    return world_size() > 1


def is_main_process() -> bool:
    """Whether this process writes the run's files and logs: rank 0, or the only process."""
    return rank() == 0


def start() -> None:
    """Joins the process group torchrun describes (gloo for CPU tensors, nccl for CUDA ones)."""
    if not is_distributed() or dist.is_initialized():
        return
    if torch.cuda.is_available():
        # one GPU per process; set before any collective so nccl does not put every rank on GPU 0
        torch.cuda.set_device(int(os.environ.get("LOCAL_RANK", "0")))
        dist.init_process_group(backend="cpu:gloo,cuda:nccl")
    else:
        dist.init_process_group(backend="gloo")


def stop() -> None:
    """Leaves the process group, if this process joined one."""
    if dist.is_initialized():
        dist.destroy_process_group()


def process_device(device: torch.device) -> torch.device:
    """The device of this process: with several processes on CUDA, the GPU LOCAL_RANK names."""
    if is_distributed() and device.type == "cuda":
        return torch.device("cuda", int(os.environ.get("LOCAL_RANK", "0")))
    return device


def wrap(model: nn.Module, device: torch.device) -> nn.Module:
    """`model` in DistributedDataParallel when there are several processes, else unchanged.

    On CUDA its BatchNorm layers become SyncBatchNorm, so they normalise over the global batch.
    """
    if not is_distributed():
        return model
    start()
    if device.type == "cuda":
        model = nn.SyncBatchNorm.convert_sync_batchnorm(model)
        return DistributedDataParallel(model, device_ids=[device])
    # NOTE: torch's SyncBatchNorm works on GPUs only, so on the CPU each process normalises over
    # its own slice of the batch; see the README's Limitations.
    return DistributedDataParallel(model)


def unwrap(model: nn.Module) -> nn.Module:
    """The network itself, with its own parameter names (`fc2.weight`, not `module.fc2.weight`)."""
    return model.module if isinstance(model, DistributedDataParallel) else model


def global_means(*means: torch.Tensor) -> tuple[torch.Tensor, ...]:
    """Batch means (0-dim tensors) of this process's slice, as means over the global batch.

    Each process holds an equal slice of the batch, so a global mean is the mean of the
    processes' means: one all-reduce for all of them.
    """
    if not is_distributed():
        return means
    summed = torch.stack([m.detach().float() for m in means])
    dist.all_reduce(summed)
    return tuple(summed / world_size())


class SilentRecorder:
    """Stands in for the TrainingRecorder on ranks other than 0, which record nothing."""

    latest: dict[str, float] = {}

    def before_update(self, step: int, loss=None) -> None:
        pass

    def after_update(self, step: int, *args, **kwargs) -> None:
        return None

    def close(self) -> None:
        pass

    def load_state_dict(self, state: dict) -> None:
        pass


class ShareRunDir(Callback):
    """Under torchrun, gives every rank rank 0's run directory and lets only rank 0 write there.

    Each process resolves `${now:...}` in hydra.run.dir itself, and the ranks may start a second
    apart; rank 0's directory is broadcast before Hydra creates any. The other ranks then save no
    .hydra/ record, log to the console only (warnings and errors), and skip the results guard.
    """

    def on_run_start(self, config, **kwargs) -> None:
        if not is_distributed():
            return
        start()
        shared = [str(config.hydra.run.dir)]
        dist.broadcast_object_list(shared, src=0)
        if is_main_process():
            return
        with read_write(config.hydra), open_dict(config.hydra):
            config.hydra.run.dir = shared[0]
            config.hydra.output_subdir = None
            _console_only(config.hydra.job_logging)

    def on_multirun_start(self, config, **kwargs) -> None:
        if is_distributed():
            exit_with_error(
                "a sweep (-m) under torchrun is not supported; run the sweep's jobs through a "
                "Hydra launcher, or train one run under torchrun"
            )


def _console_only(logging_config) -> None:
    """Drops the file handlers of a logging dictConfig, and lowers the root to warnings."""
    if not logging_config or "handlers" not in logging_config:
        return
    files = [name for name, h in logging_config.handlers.items() if "filename" in h]
    for name in files:
        del logging_config.handlers[name]
    root = logging_config.get("root")
    if root is not None:
        root.handlers = [h for h in root.get("handlers", []) if h not in files]
        root.level = "WARNING"
