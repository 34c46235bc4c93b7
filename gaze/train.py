"""Train a gaze network and log what its gradients and weights do: `python -m gaze.train`."""

import json
import logging
import time
from pathlib import Path

import hydra
import torch
from hydra.core.hydra_config import HydraConfig
from omegaconf import DictConfig
from tqdm import tqdm
from tqdm.contrib.logging import logging_redirect_tqdm

from gaze.config_checks import check_config
from gaze.data import StepBatchSampler, build_datasets, make_loader
from gaze.device import resolve_device
from gaze.diagnose import Diagnosis, check_diagnose_config
from gaze.errors import ConfigError, exit_with_error
from gaze.evaluate import evaluate
from gaze.faults import build_loss, check_fault, inject_data_fault
from gaze.init import apply_init
from gaze.model import build_model
from gaze.optim import build_optimizer
from gaze.recorder import TrainingRecorder

log = logging.getLogger(__name__)


def train(cfg: DictConfig, run_dir: Path) -> dict:
    """Runs one training run described by `cfg`, writing its results into `run_dir`."""
    check_config(cfg)
    check_fault(cfg.fault)
    check_diagnose_config(cfg.diagnose)
    device = resolve_device(cfg.train.device)
    train_set, val_set = build_datasets(cfg.data)
    train_set = inject_data_fault(train_set, cfg.fault)
    loss_function = build_loss(cfg.fault)

    # the seed fixes the initial weights here and, through the sampler, the batch order
    torch.manual_seed(cfg.train.seed)
    model = apply_init(build_model(cfg.model, in_chans=cfg.data.channels), cfg.init).to(device)
    optimizer = build_optimizer(cfg.optim, model.parameters(), cfg.train.lr)
    steps = cfg.train.steps
    diagnosis = Diagnosis.for_run(cfg.diagnose, model, train_set, cfg.train.lr)
    recorder = TrainingRecorder(model, run_dir, cfg.log, steps, device, diagnosis)
    sampler = StepBatchSampler(len(train_set), cfg.train.batch_size, cfg.train.seed, steps)
    loader = make_loader(train_set, sampler, workers=cfg.train.workers)
    log.info(
        "training %s (init %s) on %d %s samples for %d steps on %s | run %s",
        cfg.model.name, cfg.init.scheme, len(train_set), cfg.data.name, steps, device, run_dir,
    )  # fmt: skip

    started = time.perf_counter()
    model.train()
    with logging_redirect_tqdm(), tqdm(total=steps, desc="train", disable=None) as progress:
        for step, (images, gaze) in enumerate(loader, start=1):
            images, gaze = images.to(device, non_blocking=True), gaze.to(device, non_blocking=True)

            # forward and backward
            prediction = model(images)
            loss = loss_function(prediction, gaze)
            optimizer.zero_grad(set_to_none=True)
            loss.backward()

            # measure the gradients this step applies, then apply them
            recorder.before_update(step)
            optimizer.step()

            # validate on the held-out split, and record the step
            val_metrics = None
            if step % cfg.train.eval_every == 0 or step == steps:
                val_metrics = evaluate(model, val_set, device)
            recorder.after_update(step, loss, prediction, gaze, val_metrics)
            progress.update()

    elapsed = time.perf_counter() - started
    recorder.close()
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
        exit_with_error(str(error))
    # returned for Hydra sweepers that optimise a value
    return summary["train/loss"]


if __name__ == "__main__":
    main()
