"""What gradient monitoring costs per training step, against the bare step and the naive way.

    python scripts/benchmark.py                       # both models, the full settings
    python scripts/benchmark.py --models mobilenetv2 --repetitions 1 --steps 2   # quick look

In one process, for each model, the variants below take turns repetition by repetition (so
drift of a shared machine hits all alike), each timing `--steps` training steps of the same
model on the same batch. Each variant is reported as its median step time and its ratio to the
bare step. The data pipeline's delivered samples per second are set against the samples per
second the bare step consumes. Results go to a printed table and a JSON file.
"""

import argparse
import json
import platform
import statistics
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))  # runs from a checkout, installed or not

import torch  # noqa: E402
from hydra import compose, initialize_config_dir  # noqa: E402
from omegaconf import OmegaConf  # noqa: E402
from torch.utils.tensorboard import SummaryWriter  # noqa: E402

from gaze.data import StepBatchSampler, build_datasets, make_loader  # noqa: E402
from gaze.device import resolve_device  # noqa: E402
from gaze.geometry import angular_error_deg  # noqa: E402
from gaze.loss import l2_gaze_loss  # noqa: E402
from gaze.model import build_model  # noqa: E402
from gaze.monitor import ParameterMonitor  # noqa: E402
from gaze.recorder import TrainingRecorder, is_due  # noqa: E402

VARIANTS = {
    "bare": "forward, L2 loss, backward, Adam step; nothing measured",
    "norms": "per-parameter gradient and weight L2 norms every step, nothing written",
    "statistics": "every ParameterStats field every step (ParameterMonitor), nothing written",
    "default": "the project's TrainingRecorder with the default log settings, to a real event file",
    "histograms": "the same recorder with log.hist_every=1: exact histograms every step",
    "naive": "SummaryWriter.add_histogram of every gradient and weight via .cpu().numpy()",
}
# ratios to bare the issue asks for; histograms differ by model
TARGETS = {
    "norms": {"mobilenetv2": 1.02, "resnet50": 1.02},
    "default": {"mobilenetv2": 1.05, "resnet50": 1.05},
    "histograms": {"mobilenetv2": 1.25, "resnet50": 1.5},
}
DATA_TARGET = 10.0
# wall: what a user waits; cpu: the work this process did, whoever else shares the cores
CLOCKS = {"wall": time.perf_counter, "cpu": time.process_time}


def parse_args(argv=None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--models", nargs="+", default=["mobilenetv2", "resnet50"])
    parser.add_argument("--repetitions", type=int, default=7, help="turns each variant takes")
    parser.add_argument("--steps", type=int, default=2, help="timed steps per turn (>= 2)")
    parser.add_argument("--batch-size", type=int, default=32)
    parser.add_argument("--device", default="auto", help="auto, cpu, cuda, cuda:1, ...")
    parser.add_argument("--threads", type=int, default=None, help="CPU threads (torch's default)")
    parser.add_argument(
        "--clock",
        choices=sorted(CLOCKS),
        default="wall",
        help="wall: elapsed time; cpu: this process's CPU time, steadier on a shared machine"
        " (CPU device only, best with --threads 1)",
    )
    parser.add_argument("--data-batches", type=int, default=200, help="batches the loader times")
    parser.add_argument("--output", type=Path, default=REPO / "runs" / "bench" / "benchmark.json")
    args = parser.parse_args(argv)
    if args.steps < 2:
        parser.error(f"--steps={args.steps} is too few; the default variant needs >= 2")
    if args.clock == "cpu" and args.device != "cpu":
        parser.error(f"--clock=cpu needs --device cpu, got --device {args.device}")
    if args.threads is not None and args.threads < 1:
        parser.error(f"--threads={args.threads} is not allowed; use >= 1")
    if args.repetitions < 1:
        parser.error(f"--repetitions={args.repetitions} is not allowed; use >= 1")
    unknown = sorted(set(args.models) - set(TARGETS["default"]))
    if unknown:
        parser.error(f"--models {unknown} not known; allowed: {sorted(TARGETS['default'])}")
    return args


def compose_config(overrides: list[str]):
    """The training config Hydra composes from conf/train.yaml."""
    with initialize_config_dir(config_dir=str(REPO / "conf"), version_base="1.3"):
        return compose("train", overrides=overrides)


class Bench:
    """One model, its optimiser and one fixed batch, and the variants' training steps."""

    def __init__(self, cfg, device: torch.device, batch_size: int, log_dir: Path, clock):
        torch.manual_seed(cfg.train.seed)
        self.device, self.clock = device, clock
        self.model = build_model(cfg.model, in_chans=cfg.data.channels).to(device).train()
        self.optimizer = torch.optim.Adam(self.model.parameters(), lr=cfg.train.lr)
        shape = (batch_size, cfg.data.channels, cfg.data.height, cfg.data.width)
        self.images = torch.randn(shape, device=device)
        self.gaze = (torch.rand(batch_size, 2, device=device) - 0.5) * 0.8
        self.monitor = ParameterMonitor(self.model, bins=cfg.log.hist_bins)
        self.hist_every = cfg.log.hist_every

        # steps=10**9: the recorder's "last step" never comes, as in the middle of a long run
        every_step = OmegaConf.merge(cfg.log, {"hist_every": 1})
        self.recorders = {
            "default": TrainingRecorder(self.model, log_dir / "default", cfg.log, 10**9, device),
            "histograms": TrainingRecorder(
                self.model, log_dir / "histograms", every_step, 10**9, device
            ),
        }
        self.naive_writer = SummaryWriter(log_dir=str(log_dir / "naive"))
        self.names = self.monitor.names

    def forward_backward(self):
        prediction = self.model(self.images)
        loss = l2_gaze_loss(prediction, self.gaze)
        self.optimizer.zero_grad(set_to_none=True)
        loss.backward()
        return loss, prediction

    def step(self, variant: str, step: int) -> None:
        """One training step of `variant`, numbered `step` (the recorders' cadence)."""
        loss, prediction = self.forward_backward()
        if variant in self.recorders:
            recorder = self.recorders[variant]
            recorder.before_update(step)
            self.optimizer.step()
            angle = angular_error_deg(prediction.detach(), self.gaze).mean()
            recorder.after_update(step, loss, angle)
            # the event file is written by a background thread: drain it inside the timed step,
            # or its work would be charged to whichever variant runs next
            recorder.run_log.flush()
            return
        if variant == "norms":
            self.monitor.norms()
        elif variant == "statistics":
            self.monitor.parameter_stats()
        elif variant == "naive":
            self._naive_histograms(step)
            self.naive_writer.flush()
        self.optimizer.step()

    def _naive_histograms(self, step: int) -> None:
        for name, parameter in zip(self.names, self.monitor.params, strict=True):
            grad = parameter.grad.detach().cpu().numpy()
            self.naive_writer.add_histogram(f"gradient/{name}", grad, step)
            self.naive_writer.add_histogram(
                f"weight/{name}", parameter.detach().cpu().numpy(), step
            )

    def timed_step(self, variant: str, step: int) -> float:
        """Seconds one step of `variant` takes, the device's queue drained on both sides."""
        _synchronize(self.device)
        start = self.clock()
        self.step(variant, step)
        _synchronize(self.device)
        return self.clock() - start

    def close(self) -> None:
        for recorder in self.recorders.values():
            recorder.close()
        self.naive_writer.close()


def _synchronize(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def time_variants(bench: Bench, repetitions: int, steps: int) -> dict[str, dict]:
    """Median seconds per step of every variant, the variants interleaved turn by turn."""
    seconds = {variant: [] for variant in VARIANTS}
    default_hist, default_plain = [], []
    for variant in VARIANTS:  # warm-up: first-call costs (allocations, event files) stay out
        bench.step(variant, 1)
    for repetition in range(repetitions):
        for variant in VARIANTS:
            # the recorder's step numbers continue a run: each turn starts on a histogram step
            first = bench.hist_every * (repetition + 1)
            for step in range(first, first + steps):
                elapsed = bench.timed_step(variant, step)
                seconds[variant].append(elapsed)
                if variant == "default":
                    due = is_due(step, bench.hist_every, 10**9)
                    (default_hist if due else default_plain).append(elapsed)

    medians = {variant: statistics.median(values) for variant, values in seconds.items()}
    # the default variant writes histograms on one step in hist_every: its cost per step is
    # the plain step's plus that step's extra, spread over hist_every steps
    plain, hist = statistics.median(default_plain), statistics.median(default_hist)
    medians["default"] = plain + (hist - plain) / bench.hist_every
    result = {}
    for variant, median in medians.items():
        result[variant] = {"median_ms": median * 1e3, "ratio": median / medians["bare"]}
    result["default"].update(
        statistics_step_ms=plain * 1e3, histogram_step_ms=hist * 1e3, hist_every=bench.hist_every
    )
    return result


def data_pipeline_rate(cfg, batch_size: int, batches: int, clock) -> float:
    """Samples per second the synthetic data set delivers through the training loader."""
    train_set, _ = build_datasets(cfg.data)
    sampler = StepBatchSampler(len(train_set), batch_size, cfg.train.seed, batches)
    loader = make_loader(train_set, sampler, workers=cfg.train.workers)
    start, samples = clock(), 0
    for images, _ in loader:
        samples += images.shape[0]
    return samples / (clock() - start)


def run(args: argparse.Namespace) -> dict:
    device = resolve_device(args.device)
    if args.threads is not None:
        torch.set_num_threads(args.threads)
    torch.backends.cudnn.benchmark = device.type == "cuda"
    clock = CLOCKS[args.clock]
    delivered = data_pipeline_rate(compose_config([]), args.batch_size, args.data_batches, clock)
    report = {
        "machine": {
            "device": str(device),
            "device_name": _device_name(device),
            "threads": torch.get_num_threads(),
            "torch": torch.__version__,
            "python": platform.python_version(),
        },
        "settings": {
            "batch_size": args.batch_size,
            "repetitions": args.repetitions,
            "steps_per_repetition": args.steps,
            "clock": args.clock,
        },
        "variants": VARIANTS,
        "data_pipeline": {"delivered_samples_per_second": delivered},
        "models": {},
    }
    with tempfile.TemporaryDirectory(prefix="gaze-bench-") as log_dir:
        for name in args.models:
            cfg = compose_config([f"model={name}"])
            bench = Bench(cfg, device, args.batch_size, Path(log_dir) / name, clock)
            timings = time_variants(bench, args.repetitions, args.steps)
            bench.close()
            for variant, target in TARGETS.items():
                timings[variant]["target"] = target[name]
                timings[variant]["met"] = timings[variant]["ratio"] <= target[name]
            consumed = args.batch_size / (timings["bare"]["median_ms"] / 1e3)
            report["models"][name] = {
                "parameters": sum(p.numel() for p in bench.monitor.params),
                "tensors": len(bench.monitor.params),
                "input": [cfg.data.channels, cfg.data.height, cfg.data.width],
                "variants": timings,
                "data_pipeline": {
                    "consumed_samples_per_second": consumed,
                    "ratio": delivered / consumed,
                    "target": DATA_TARGET,
                    "met": delivered / consumed >= DATA_TARGET,
                },
            }
    return report


def _device_name(device: torch.device) -> str:
    if device.type == "cuda":
        return torch.cuda.get_device_name(device)
    return platform.processor() or platform.machine()


def table(report: dict) -> str:
    """The report as a Markdown table, one row per model and variant."""
    lines = [
        "| model | variant | median ms/step | ratio to bare | target | met |",
        "|---|---|---|---|---|---|",
    ]
    for name, model in report["models"].items():
        for variant, timing in model["variants"].items():
            target = timing.get("target")
            target_text = f"<= {target:.2f}" if target else ""
            met = {True: "yes", False: "no", None: ""}[timing.get("met")]
            lines.append(
                f"| {name} | {variant} | {timing['median_ms']:.1f} | {timing['ratio']:.3f}"
                f" | {target_text} | {met} |"
            )
        data = model["data_pipeline"]
        lines.append(
            f"| {name} | data pipeline | {data['consumed_samples_per_second']:.0f} samples/s"
            f" consumed | {data['ratio']:.1f}x faster | >= {data['target']:.0f}x"
            f" | {'yes' if data['met'] else 'no'} |"
        )
    machine = report["machine"]
    lines.append("")
    lines.append(
        f"{machine['device']} ({machine['device_name']}), {machine['threads']} threads,"
        f" torch {machine['torch']}, {report['settings']['clock']} clock; data set delivers"
        f" {report['data_pipeline']['delivered_samples_per_second']:.0f} samples/s"
    )
    return "\n".join(lines)


def main(argv=None) -> None:
    args = parse_args(argv)
    report = run(args)
    args.output.parent.mkdir(parents=True, exist_ok=True)
    args.output.write_text(json.dumps(report, indent=2) + "\n")
    print(table(report))
    print(f"written: {args.output}")


if __name__ == "__main__":
    main()
