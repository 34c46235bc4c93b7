"""Compare two runs side by side: loss curves, distributions, gradient flow and diagnoses.

    python scripts/compare.py runs/reproduce/fixed runs/reproduce/underfit --out runs/compare

Writes loss.png, distributions.png, gradient_flow.png and diagnoses.md into --out. When one
run's diagnosis is healthy and the other's is not, the healthy one is drawn on the left.
"""

import argparse
import logging
import sys
from pathlib import Path

import matplotlib

matplotlib.use("Agg")  # files only: no display is needed or wanted
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from gaze.errors import ConfigError, exit_with_error  # noqa: E402
from gaze.runs import Run, read_run  # noqa: E402

log = logging.getLogger("compare")

COLOURS = {"healthy": "tab:blue", "failing": "tab:red"}


def order_runs(first: Run, second: Run) -> tuple[Run, Run]:
    """(left, right): the healthy run on the left when exactly one of them is healthy."""
    if second.healthy and not first.healthy:
        return second, first
    return first, second


def _label(run: Run) -> str:
    verdict = run.verdict or "not diagnosed"
    return f"{run.name} ({verdict})"


def plot_losses(left: Run, right: Run, path: Path) -> None:
    """The two training-loss curves, each with its baseline loss dashed."""
    figure, axes = plt.subplots(figsize=(7, 4), layout="constrained")
    same_baseline = left.baseline_loss is not None and left.baseline_loss == right.baseline_loss
    if same_baseline:
        label = f"baseline of both (predict the mean gaze) {left.baseline_loss:.3f}"
        axes.axhline(left.baseline_loss, color="black", linestyle="--", linewidth=1, label=label)
    for run, colour in ((left, COLOURS["healthy"]), (right, COLOURS["failing"])):
        loss = run.scalar("train/loss")
        axes.plot(loss.index, loss.values, color=colour, label=f"{_label(run)}: train loss")
        if run.baseline_loss is not None and not same_baseline:
            axes.axhline(
                run.baseline_loss, color=colour, linestyle="--", linewidth=1,
                label=f"{run.name}: baseline (predict the mean gaze) {run.baseline_loss:.3f}",
            )  # fmt: skip
    _save_log_plot(
        figure, axes, path, "training step", "L2 gaze loss (radians, log scale)",
        "Training loss against the input-independent baseline",
    )  # fmt: skip


def _save_log_plot(figure, axes, path: Path, xlabel: str, ylabel: str, title: str) -> None:
    """Labels a log-scale line plot, gives it a grid and legend, and writes it to `path`."""
    axes.set_yscale("log")
    axes.set_xlabel(xlabel)
    axes.set_ylabel(ylabel)
    axes.set_title(title)
    axes.grid(True, which="both", alpha=0.3)
    axes.legend(fontsize=8)
    figure.savefig(path, dpi=110)
    plt.close(figure)


def _last_histogram(run: Run, tag: str):
    rows = run.histograms[run.histograms["tag"] == tag]
    if rows.empty:
        raise ConfigError(f"{run.path} has no histogram {tag!r}; choose --layers from its tags")
    last = rows[rows["step"] == rows["step"].max()]
    return (
        int(last["step"].iloc[0]),
        last["left"].to_numpy(),
        last["right"].to_numpy(),
        last["count"].to_numpy(),
    )


def _draw_histogram(axes, run: Run, tag: str, colour: str) -> None:
    step, left, right, count = _last_histogram(run, tag)
    low, high = float(left[0]), float(right[-1])
    if high - low <= 0:
        # every value is the same: a bar of zero width, drawn as a line with its value
        axes.axvline(low, color=colour, linewidth=3)
        axes.set_xlim(low - 1, high + 1)
        axes.text(0.5, 0.6, f"all {int(count.sum())} values = {low:.3g}", ha="center",
                  transform=axes.transAxes, fontsize=9)  # fmt: skip
    else:
        axes.stairs(count, np.concatenate((left[:1], right)), fill=True, color=colour, alpha=0.7)
    kind, parameter = tag.split("/", 1)
    axes.set_title(f"{run.name}: {parameter} ({kind}, step {step})", fontsize=9)
    axes.set_xlabel(f"{kind} value (range {low:.2g} to {high:.2g})", fontsize=8)
    axes.set_ylabel("entries per bin", fontsize=8)
    axes.ticklabel_format(axis="x", style="sci", scilimits=(-2, 3))
    axes.tick_params(labelsize=7)


def plot_distributions(left: Run, right: Run, layers: list[str], path: Path) -> None:
    """Weight and gradient histograms of `layers` at the last histogram step, runs side by side."""
    tags = [f"{kind}/{layer}" for layer in layers for kind in ("weight", "gradient")]
    figure, axes = plt.subplots(len(tags), 2, figsize=(9, 2.2 * len(tags)), layout="constrained")
    for row, tag in enumerate(tags):
        _draw_histogram(axes[row, 0], left, tag, COLOURS["healthy"])
        _draw_histogram(axes[row, 1], right, tag, COLOURS["failing"])
    figure.suptitle(f"Distributions: {_label(left)} left, {_label(right)} right")
    figure.savefig(path, dpi=100)
    plt.close(figure)


def _kernels(run: Run):
    """The weight matrices and kernels of a run's diagnosis table, input side first."""
    table = run.parameters
    if table.empty:
        raise ConfigError(
            f"{run.path} has neither diagnosis.json nor .hydra/config.yaml; "
            "rerun it to draw the gradient flow"
        )
    return table[table["shape"].map(len) >= 2].reset_index(drop=True)


def plot_gradient_flow(left: Run, right: Run, path: Path) -> None:
    """Mean absolute gradient per layer (input to output, log scale), both runs."""
    figure, axes = plt.subplots(figsize=(10, 4.5), layout="constrained")
    tables = [(_kernels(run), run, colour) for run, colour in
              ((left, COLOURS["healthy"]), (right, COLOURS["failing"]))]  # fmt: skip
    positive = np.concatenate([t["grad_abs_mean"].to_numpy(dtype=float) for t, _, _ in tables])
    positive = positive[positive > 0]
    floor = positive.min() / 10 if positive.size else 1e-12
    for table, run, colour in tables:
        values = table["grad_abs_mean"].to_numpy(dtype=float)
        layer = np.arange(len(values))
        axes.plot(layer, np.where(values > 0, values, np.nan), "o-", color=colour,
                  markersize=3, label=f"{_label(run)}")  # fmt: skip
        zero = values <= 0
        if zero.any():
            label = f"{run.name}: exactly 0, drawn at the bottom ({zero.sum()} of {len(values)})"
            axes.plot(layer[zero], np.full(zero.sum(), floor), "v", color=colour, markersize=4,
                      label=label)  # fmt: skip
    names = tables[0][0]["name"].tolist()
    ticks = sorted({0, len(names) - 1, len(names) - 2, *range(0, len(names), 10)})
    axes.set_xticks(ticks, [names[t].removesuffix(".weight") for t in ticks], rotation=30,
                    ha="right", fontsize=7)  # fmt: skip
    _save_log_plot(
        figure, axes, path, "layer (weight tensors, input side to output side)",
        "mean |gradient| (log scale)",
        "Gradient flow: the last diagnosis window (or the last histograms) of each run",
    )  # fmt: skip


def _cell(text: str) -> str:
    return str(text).replace("|", "\\|").replace("\n", " ")


def diagnoses_table(left: Run, right: Run) -> str:
    """A markdown table: one row per rule that fired in either run, the verdicts first."""
    lines = [
        f"| | {left.name} | {right.name} |",
        "|---|---|---|",
        f"| verdict | {left.verdict or 'not diagnosed'} | {right.verdict or 'not diagnosed'} |",
    ]
    rules = list(dict.fromkeys([*left.findings["rule"], *right.findings["rule"]]))
    for rule in rules:
        cells = []
        for run in (left, right):
            row = run.findings[run.findings["rule"] == rule]
            if row.empty:
                cells.append("-")
            else:
                finding = row.iloc[0]
                cells.append(
                    f"**{_cell(finding.symptom)}**: {_cell(finding.evidence)}; "
                    f"fix: `{_cell(finding.fix)}`"
                )
        lines.append(f"| {rule} | {cells[0]} | {cells[1]} |")
    return "\n".join(lines) + "\n"


def _default_layers(run: Run) -> list[str]:
    kernels = _kernels(run)
    convolutions = kernels[kernels["shape"].map(len) == 4]["name"]
    first_conv = convolutions.iloc[0] if len(convolutions) else None
    return ["fc2.weight", *([first_conv] if first_conv else [])]


def compare(run_a, run_b, out, layers: list[str] | None = None) -> list[Path]:
    """Writes the comparison of two run directories into `out`; returns the files written."""
    left, right = order_runs(read_run(run_a), read_run(run_b))
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    files = [
        out / n for n in ("loss.png", "distributions.png", "gradient_flow.png", "diagnoses.md")
    ]
    plot_losses(left, right, files[0])
    plot_distributions(left, right, layers or _default_layers(left), files[1])
    plot_gradient_flow(left, right, files[2])
    files[3].write_text(f"# {left.name} against {right.name}\n\n" + diagnoses_table(left, right))
    return files


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("run_a", help="a run directory, e.g. runs/reproduce/fixed")
    parser.add_argument("run_b", help="another run directory, e.g. runs/reproduce/underfit")
    parser.add_argument("--out", default="runs/compare", help="folder for the figures")
    parser.add_argument(
        "--layers", nargs="+", help="parameters to draw (default: fc2.weight and the first conv)"
    )
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(message)s")
    try:
        files = compare(args.run_a, args.run_b, args.out, args.layers)
    except ConfigError as error:
        exit_with_error(str(error))
    log.info("wrote %s", " ".join(str(f) for f in files))


if __name__ == "__main__":
    main()
