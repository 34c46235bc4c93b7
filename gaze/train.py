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
from gaze.errors import ConfigError, exit_with_error
from gaze.evaluate import evaluate
from gaze.geometry import angular_error_deg
from gaze.init import apply_init
from gaze.loss import l2_gaze_loss
from gaze.model import build_model
from gaze.monitor import ParameterMonitor
from gaze.optim import build_optimizer
from gaze.run_log import RunLog

log = logging.getLogger(__name__)

SCALAR_TAGS = ["train/loss", "train/angular_error_deg", "val/loss", "val/angular_error_deg"]


def _is_due(step: int, every: int, last_step: int) -> bool:
    """Logging cadence: the first step, every `every` steps, and the last step."""
    return step == 1 or step % every == 0 or step == last_step


def train(cfg: DictConfig, run_dir: Path) -> dict:
    """Runs one training run described by `cfg`, writing its results into `run_dir`."""
    check_config(cfg)
    device = resolve_device(cfg.train.device)
    train_set, val_set = build_datasets(cfg.data)

    # the seed fixes the initial weights here and, through the sampler, the batch order
    torch.manual_seed(cfg.train.seed)
    model = apply_init(build_model(cfg.model, in_chans=cfg.data.channels), cfg.init).to(device)
    optimizer = build_optimizer(cfg.optim, model.parameters(), cfg.train.lr)
    monitor = ParameterMonitor(model, bins=cfg.log.hist_bins)
    columns = SCALAR_TAGS + ["grad_norm/total"]
    columns += [f"grad_norm/{n}" for n in monitor.names]
    columns += [f"weight_norm/{n}" for n in monitor.names]
    run_log = RunLog(run_dir, columns)

    steps = cfg.train.steps
    sampler = StepBatchSampler(len(train_set), cfg.train.batch_size, cfg.train.seed, steps)
    loader = make_loader(train_set, sampler, workers=cfg.train.workers)
    log.info(
        "training %s (init %s) on %d %s samples for %d steps on %s | run %s",
        cfg.model.name,
        cfg.init.scheme,
        len(train_set),
        cfg.data.name,
        steps,
        device,
        run_dir,
    )

    window_loss = torch.zeros((), device=device)
    window_angle = torch.zeros((), device=device)
    window_steps, window_start = 0, time.perf_counter()
    train_metrics, val_metrics = {}, {}
    started = time.perf_counter()
    model.train()
    with logging_redirect_tqdm(), tqdm(total=steps, desc="train", disable=None) as progress:
        for step, (images, gaze) in enumerate(loader, start=1):
            images, gaze = images.to(device, non_blocking=True), gaze.to(device, non_blocking=True)

            # forward and backward
            prediction = model(images)
            loss = l2_gaze_loss(prediction, gaze)
            optimizer.zero_grad(set_to_none=True)
            loss.backward()

            # measure the gradients that this step is about to apply
            log_now = _is_due(step, cfg.log.every, steps)
            if log_now:
                stats = monitor.parameter_stats()
                monitor.remember_weights()
            if _is_due(step, cfg.log.hist_every, steps):
                run_log.histograms(step, monitor.histograms())
            optimizer.step()

            # accumulate on the device; the host reads the window only when it logs
            window_loss += loss.detach()
            window_angle += angular_error_deg(prediction.detach(), gaze).mean()
            window_steps += 1
            progress.update()
            scalars = {}
            if log_now:
                stats.update_ratio = monitor.update_ratio()
                train_metrics = {
                    "train/loss": window_loss.item() / window_steps,
                    "train/angular_error_deg": window_angle.item() / window_steps,
                }
                scalars.update(train_metrics)
                scalars.update(stats.scalars())
                rate = window_steps / (time.perf_counter() - window_start)
                log.info(
                    "step %d/%d | loss %.4f | angle %.1f deg | grad %.1e | %.1f it/s",
                    step,
                    steps,
                    train_metrics["train/loss"],
                    train_metrics["train/angular_error_deg"],
                    stats.total_grad_norm,
                    rate,
                )
                window_loss.zero_()
                window_angle.zero_()
                window_steps, window_start = 0, time.perf_counter()

            # validate on the held-out split
            if step % cfg.train.eval_every == 0 or step == steps:
                measured = evaluate(model, val_set, device)
                val_metrics = {f"val/{k}": v for k, v in measured.items()}
                scalars.update(val_metrics)
            if scalars:
                run_log.scalars(step, scalars)

    elapsed = time.perf_counter() - started
    run_log.close()
    summary = {
        **train_metrics,
        **val_metrics,
        "steps": steps,
        "steps_per_second": steps / elapsed,
        "run_dir": str(run_dir),
    }
    (Path(run_dir) / "summary.json").write_text(json.dumps(summary, indent=2) + "\n")
    log.info(
        "done | train loss %.4f | train angle %.1f deg | val loss %.4f | val angle %.1f deg"
        " | run %s | view: tensorboard --logdir %s",
        summary["train/loss"],
        summary["train/angular_error_deg"],
        summary["val/loss"],
        summary["val/angular_error_deg"],
        run_dir,
        Path(run_dir).parent,
    )
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
