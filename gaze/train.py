"""Train a gaze network and log what its gradients and weights do: `python -m gaze.train`."""

import json
import logging
import sys
import time
from contextlib import closing
from pathlib import Path

import hydra
import torch
from hydra.core.hydra_config import HydraConfig
from hydra.types import RunMode
from omegaconf import DictConfig
from tqdm import tqdm
from tqdm.contrib.logging import logging_redirect_tqdm

from gaze import distributed
from gaze.checkpoint import Checkpointer, resume_state
from gaze.config_checks import check_config, check_group_choices_or_exit
from gaze.data import StepBatchSampler, build_datasets, make_loader
from gaze.device import resolve_device
from gaze.diagnose import Diagnosis, check_diagnose_config
from gaze.errors import ConfigError, exit_with_error
from gaze.evaluate import evaluate
from gaze.faults import build_loss, check_fault, inject_data_fault
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
    device = distributed.process_device(resolve_device(cfg.train.device))
    train_set, val_set = build_datasets(cfg.data)
    train_set = inject_data_fault(train_set, cfg.fault)
    loss_function = build_loss(cfg.fault)

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
    checkpoints = Checkpointer(run_dir, cfg.train.ckpt_every, steps, network, optimizer, recorder)
    if resumed:
        checkpoints.restore(resumed)
    loader = make_loader(train_set, sampler, workers=cfg.train.workers)
    log.info(
        "training %s (init %s) on %d %s samples for %d steps on %s | run %s",
        cfg.model.name, cfg.init.scheme, len(train_set), cfg.data.name, steps, device, run_dir,
    )  # fmt: skip

    started = time.perf_counter() - (resumed["train_seconds"] if resumed else 0.0)
    model.train()
    quiet = None if distributed.is_main_process() else True  # None: a bar on terminals only
    with (
        closing(recorder),
        logging_redirect_tqdm(),
        tqdm(total=steps, initial=start_step, desc="train", disable=quiet) as progress,
    ):
        for step, (images, gaze) in enumerate(loader, start=start_step + 1):
            images, gaze = images.to(device, non_blocking=True), gaze.to(device, non_blocking=True)

            # forward and backward
            prediction = model(images)
            loss = loss_function(prediction, gaze)
            optimizer.zero_grad(set_to_none=True)
            loss.backward()

            # measure the gradients this step applies (all-reduced already), then apply them
            recorder.before_update(step, loss)
            optimizer.step()

            # validate on the held-out split, and record the step
            val_metrics = None
            if distributed.is_main_process() and (
                step % cfg.train.eval_every == 0 or step == steps
            ):
                val_metrics = evaluate(network, val_set, device)
            recorder.after_update(
                step, *distributed.global_batch(loss, prediction, gaze), val_metrics
            )
            if distributed.is_main_process() and checkpoints.is_due(step):
                checkpoints.save(step, time.perf_counter() - started)
            progress.update()

    elapsed = time.perf_counter() - started
    if not distributed.is_main_process():
        return {}
    summary = {
        **recorder.latest,
        "steps": steps,
        "steps_per_second": steps / elapsed,
        "run_dir": str(run_dir),
    }
    (Path(run_dir) / "summary.json").write_text(json.dumps(summary, indent=2) + "\n")
    log.info(
        "done | train loss %.4f | train angle %.1f deg | val loss %.4f | val angle %.1f deg"
        " | run %s | view: tensorboard --logdir %s",
        summary["train/loss"], summary["train/angular_error_deg"], summary["val/loss"],
        summary["val/angular_error_deg"], run_dir, Path(run_dir).parent,
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
