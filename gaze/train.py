"""Train a gaze network and log what its gradients and weights do: `python -m gaze.train`."""

import json
import logging
import sys
import time
from collections.abc import Callable
from contextlib import closing
from dataclasses import dataclass
from pathlib import Path

import hydra
import torch
from hydra.core.hydra_config import HydraConfig
from hydra.types import RunMode
from omegaconf import DictConfig
from torch.utils.data import DataLoader
from tqdm import tqdm
from tqdm.contrib.logging import logging_redirect_tqdm

from gaze import distributed
from gaze.checkpoint import Checkpointer, resume_state
from gaze.config_checks import check_config, check_group_choices_or_exit
from gaze.data import GazeTensors, StepBatchSampler, build_datasets, make_loader
from gaze.device import resolve_device
from gaze.diagnose import Diagnosis, check_diagnose_config
from gaze.errors import ConfigError, exit_with_error
from gaze.evaluate import evaluate
from gaze.faults import build_loss, check_fault, inject_data_fault
from gaze.geometry import angular_error_deg
from gaze.init import apply_init
from gaze.model import build_model
from gaze.nonfinite import NonFiniteError
from gaze.optim import build_optimizer
from gaze.recorder import TrainingRecorder

log = logging.getLogger(__name__)


def train(cfg: DictConfig, run_dir: Path) -> dict:
    """Runs one training run described by `cfg`, writing its results into `run_dir`."""
    check_config(cfg)
    check_fault(cfg.fault)
    check_diagnose_config(cfg.diagnose)
    run = _build_run(cfg, Path(run_dir))
    elapsed = _loop(run, cfg.train.eval_every)
    if not distributed.is_main_process():
        return {}
    return _write_summary(run, Path(run_dir), elapsed)


@dataclass
class _Run:
    """What one training run is made of, built (or restored from a checkpoint) before step 1."""

    model: torch.nn.Module  # what the loop calls: the network, wrapped in DDP under torchrun
    network: torch.nn.Module  # the network itself: measured, validated and checkpointed
    optimizer: torch.optim.Optimizer
    loss_function: Callable
    loader: DataLoader
    val_set: GazeTensors
    recorder: TrainingRecorder | distributed.SilentRecorder
    checkpoints: Checkpointer
    device: torch.device
    steps: int
    start_step: int
    earlier_seconds: float  # training time of the steps before a resume


def _build_run(cfg: DictConfig, run_dir: Path) -> _Run:
    """The data, model, optimiser, recorder and checkpoints of a run; restored on a resume."""
    device = distributed.process_device(resolve_device(cfg.train.device))
    train_set, val_set = build_datasets(cfg.data)
    train_set = inject_data_fault(train_set, cfg.fault)

    # NOTE: near-zero weights push activations and Adam's moments into subnormal floats, which
    # x86 CPUs compute up to ~10x slower; flushing them to 0 changes no value above 1e-38
    torch.set_flush_denormal(True)

    # the seed fixes the initial weights here and, through the sampler, the batch order
    torch.manual_seed(cfg.train.seed)
    model = apply_init(build_model(cfg.model, in_chans=cfg.data.channels), cfg.init).to(device)
    optimizer = build_optimizer(cfg.optim, model.parameters(), cfg.train.lr)
    steps = cfg.train.steps
    resumed = resume_state(run_dir, cfg.train.resume, steps)
    start_step = resumed["step"] if resumed else 0

    # each process reads its slice of the global batch; only rank 0 records
    sampler = StepBatchSampler(
        len(train_set), cfg.train.batch_size, cfg.train.seed, steps, start_step=start_step,
        rank=distributed.rank(), world_size=distributed.world_size(),
    )  # fmt: skip
    model = distributed.wrap(model, device)
    network = distributed.unwrap(model)
    recorder = distributed.SilentRecorder()
    if distributed.is_main_process():
        diagnosis = Diagnosis.for_run(cfg.diagnose, network, train_set, cfg.train.lr, val_set)
        recorder = TrainingRecorder(
            network, run_dir, cfg.log, steps, device,
            resume_step=start_step if cfg.train.resume else None, diagnosis=diagnosis,
        )  # fmt: skip

    # a resumed run continues from its checkpoint's weights, optimiser and recorder
    checkpoints = Checkpointer(run_dir, cfg.train.ckpt_every, steps, network, optimizer, recorder)
    if resumed:
        checkpoints.restore(resumed)
    log.info(
        "training %s (init %s) on %d %s samples for %d steps on %s | run %s",
        cfg.model.name, cfg.init.scheme, len(train_set), cfg.data.name, steps, device, run_dir,
    )  # fmt: skip
    return _Run(
        model=model,
        network=network,
        optimizer=optimizer,
        loss_function=build_loss(cfg.fault),
        loader=make_loader(train_set, sampler, workers=cfg.train.workers),
        val_set=val_set,
        recorder=recorder,
        checkpoints=checkpoints,
        device=device,
        steps=steps,
        start_step=start_step,
        earlier_seconds=resumed["train_seconds"] if resumed else 0.0,
    )


def _loop(run: _Run, eval_every: int) -> float:
    """The training steps of `run`; returns the seconds they took (with those before a resume)."""
    main_process = distributed.is_main_process()
    started = time.perf_counter() - run.earlier_seconds
    run.model.train()
    with (
        closing(run.recorder),
        logging_redirect_tqdm(),
        # disable=None: a progress bar on terminals only
        tqdm(total=run.steps, initial=run.start_step, desc="train",
             disable=None if main_process else True) as progress,
    ):  # fmt: skip
        for step, (images, gaze) in enumerate(run.loader, start=run.start_step + 1):
            images = images.to(run.device, non_blocking=True)
            gaze = gaze.to(run.device, non_blocking=True)

            # forward and backward
            prediction = run.model(images)
            loss = run.loss_function(prediction, gaze)
            run.optimizer.zero_grad(set_to_none=True)
            loss.backward()

            # measure the gradients this step applies (all-reduced already), then apply them
            run.recorder.before_update(step, loss)
            run.optimizer.step()

            # validate on the held-out split, and record the step
            val_metrics = None
            if main_process and (step % eval_every == 0 or step == run.steps):
                val_metrics = evaluate(run.network, run.val_set, run.device)
            angle = angular_error_deg(prediction.detach(), gaze).mean()
            run.recorder.after_update(step, *distributed.global_means(loss, angle), val_metrics)
            if main_process and run.checkpoints.is_due(step):
                run.checkpoints.save(step, time.perf_counter() - started)
            progress.update()
    return time.perf_counter() - started


def _write_summary(run: _Run, run_dir: Path, elapsed: float) -> dict:
    """summary.json and the closing console line: the last metrics and the speed."""
    summary = {
        **run.recorder.latest,
        "steps": run.steps,
        "steps_per_second": run.steps / elapsed,
        "run_dir": str(run_dir),
    }
    (run_dir / "summary.json").write_text(json.dumps(summary, indent=2) + "\n")
    log.info(
        "done | train loss %.4f | train angle %.1f deg | val loss %.4f | val angle %.1f deg"
        " | run %s | view: tensorboard --logdir %s",
        summary["train/loss"], summary["train/angular_error_deg"], summary["val/loss"],
        summary["val/angular_error_deg"], run_dir, run_dir.parent,
    )  # fmt: skip
    return summary


@hydra.main(version_base="1.3", config_path="../conf", config_name="train")
def main(cfg: DictConfig) -> float:
    run_dir = Path(HydraConfig.get().runtime.output_dir)
    try:
        summary = train(cfg, run_dir)
    except ConfigError as error:
        if HydraConfig.get().mode == RunMode.MULTIRUN:
            raise  # the sweep records the job as failed and runs the others
        exit_with_error(str(error))
    except NonFiniteError as error:
        log.error("%s", error)
        exit_with_error(str(error), status=1)
    finally:
        distributed.stop()
    # returned for Hydra sweepers that optimise a value
    return summary.get("train/loss")


if __name__ == "__main__":
    check_group_choices_or_exit(sys.argv[1:])
    main()
