"""Checkpoints of a run: everything needed to continue it exactly where it stopped."""

import logging
import os
from pathlib import Path

import torch
from omegaconf import OmegaConf

from gaze.errors import ConfigError
from gaze.nonfinite import FiniteGuard

log = logging.getLogger(__name__)

CHECKPOINT = Path("checkpoints") / "last.pt"


def checkpoint_path(run_dir: Path) -> Path:
    return Path(run_dir) / CHECKPOINT


def save_checkpoint(run_dir: Path, state: dict) -> Path:
    """Writes `state` to checkpoints/last.pt atomically: a crash leaves the old or the new one."""
    path = checkpoint_path(run_dir)
    path.parent.mkdir(parents=True, exist_ok=True)
    temporary = path.with_name(path.name + ".tmp")
    with open(temporary, "wb") as file:
        torch.save(state, file)
        file.flush()
        os.fsync(file.fileno())
    os.replace(temporary, path)
    return path


def load_checkpoint(run_dir: Path) -> dict | None:
    """The state saved in `run_dir`'s checkpoint, on the CPU; None when there is none."""
    path = checkpoint_path(run_dir)
    if not path.exists():
        return None
    # weights_only=False: the state holds plain Python values (the recorder's latest metrics)
    # next to tensors, and the file is one this project wrote into the user's own run directory
    return torch.load(path, map_location="cpu", weights_only=False)


class Checkpointer:
    """Saves and restores the model, optimiser, step, random states and the recorder's windows.

    The data order needs no state of its own: StepBatchSampler draws each batch from
    (train.seed, step), so a run resumed at step s reads the batches it would have read.
    """

    def __init__(self, run_dir: Path, every: int, steps: int, model, optimizer, recorder):
        self.run_dir, self.every, self.steps = Path(run_dir), every, steps
        self.model, self.optimizer, self.recorder = model, optimizer, recorder

    def restore(self, state: dict) -> None:
        """Puts the run back into the state it had at the end of step `state["step"]`."""
        self.model.load_state_dict(state["model"])
        self.optimizer.load_state_dict(state["optimizer"])
        self.recorder.load_state_dict(state["recorder"])
        torch.set_rng_state(state["rng"]["cpu"])
        if torch.cuda.is_available() and state["rng"]["cuda"]:
            torch.cuda.set_rng_state_all(state["rng"]["cuda"])
        log.info("resumed from %s at step %d", checkpoint_path(self.run_dir), state["step"])

    def is_due(self, step: int) -> bool:
        return step % self.every == 0 or step == self.steps

    def save(self, step: int, train_seconds: float) -> None:
        """Checkpoints the end of `step`, after the run log holds every row up to it."""
        # a checkpoint must never hold a broken model: it is what the run falls back to
        self.recorder.guard.check_loss()
        FiniteGuard.check_weights(step, self.recorder.monitor.names, self.recorder.monitor.params)
        self.recorder.flush()
        cuda_states = torch.cuda.get_rng_state_all() if torch.cuda.is_available() else []
        state = {
            "step": step,
            "model": self.model.state_dict(),
            "optimizer": self.optimizer.state_dict(),
            "rng": {"cpu": torch.get_rng_state(), "cuda": cuda_states},
            "recorder": self.recorder.state_dict(),
            "train_seconds": train_seconds,
        }
        save_checkpoint(self.run_dir, state)


def resume_state(run_dir: Path, resume: bool, steps: int) -> dict | None:
    """The checkpoint to continue from when `train.resume` is set; None to start at step 0."""
    if not resume:
        return None
    state = load_checkpoint(run_dir)
    if state is None:
        log.warning("train.resume=true but %s does not exist; starting at step 0",
                    checkpoint_path(run_dir))  # fmt: skip
    elif state["step"] > steps:
        raise ConfigError(
            f"train.steps={steps} is below the step of {checkpoint_path(run_dir)} "
            f"({state['step']}); use train.steps >= {state['step']}"
        )
    return state


# what a resumed run may change: how long, where and how loudly it runs, not what it computes
RESUMABLE_CHANGES = (
    "train.resume",
    "train.steps",
    "train.ckpt_every",
    "train.device",
    "train.workers",
    "log.every",
)


def resume_mismatch(run_dir: Path, config) -> str | None:
    """Why `config` cannot resume the run in `run_dir` (one line), or None when it can.

    The run's own config is the .hydra/config.yaml it was started with; `config` is the new
    composed config, with or without its `hydra` node.
    """
    saved_path = Path(run_dir) / ".hydra" / "config.yaml"
    if not saved_path.exists():
        return None
    saved = _flat(OmegaConf.to_container(OmegaConf.load(saved_path), resolve=False))
    current = OmegaConf.to_container(config, resolve=False)
    current.pop("hydra", None)
    current = _flat(current)
    for key in sorted(saved.keys() | current.keys()):
        if key in RESUMABLE_CHANGES or saved.get(key) == current.get(key):
            continue
        return (
            f"train.resume=true but {key}={current.get(key)!r} differs from the run's "
            f"{saved.get(key)!r} in {saved_path}; resume with the config the run started with"
        )
    return None


def _flat(tree: dict, prefix: str = "") -> dict:
    flat = {}
    for key, value in tree.items():
        if isinstance(value, dict):
            flat.update(_flat(value, f"{prefix}{key}."))
        else:
            flat[f"{prefix}{key}"] = value
    return flat
