"""Run the fault lab and print its confusion matrix: `python scripts/fault_lab.py [--out DIR]`.

One short run per injected fault (gaze.fault_lab), each through `python -m gaze.train` into
DIR/<fault>/, a run like any other (TensorBoard events, metrics.csv, diagnosis.md); then the
matrix of which finding named which fault, printed and saved as DIR/fault_lab.md. Exits 1 when
a fault is not named first by its own finding, or by another's, or the healthy run is not clean.
"""

import argparse
import logging
import os
import subprocess
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))  # run from a checkout, uninstalled

from gaze.errors import exit_with_error  # noqa: E402
from gaze.fault_lab import (  # noqa: E402
    EXPECTED,
    lab_overrides,
    matrix_lines,
    matrix_markdown,
    mismatches,
    rules_named,
    run_name,
)
from gaze.run_dir import has_results  # noqa: E402

log = logging.getLogger("fault_lab")


def parse_args(argv=None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, default=Path("runs/fault_lab"))
    parser.add_argument("--seed", type=int, default=0, help="train.seed of every run")
    parser.add_argument(
        "--faults", nargs="+", choices=list(EXPECTED), default=list(EXPECTED), metavar="FAULT",
        help=f"the runs to make (default all): {', '.join(EXPECTED)}",
    )  # fmt: skip
    return parser.parse_args(argv)


def run_fault(fault: str, run_dir: Path, seed: int) -> None:
    """One lab run through the command line; exits with the run's error if it fails."""
    command = [
        sys.executable, "-m", "gaze.train", *lab_overrides(fault), f"train.seed={seed}",
        f"hydra.run.dir={run_dir}",
    ]  # fmt: skip
    env = {**os.environ, "PYTHONPATH": str(REPO)}
    result = subprocess.run(command, env=env, capture_output=True, text=True)
    # the NaN run stops at its first non-finite value (exit 1), as it should
    stopped_as_meant = fault == "fault=nan_loss" and result.returncode == 1
    if result.returncode != 0 and not stopped_as_meant:
        last = (result.stderr.strip().splitlines() or ["no output"])[-1]
        exit_with_error(f"the {fault} run failed (exit {result.returncode}): {last}")


def main(argv=None) -> int:
    logging.basicConfig(level=logging.INFO, format="%(message)s")
    args = parse_args(argv)
    out = args.out.resolve()
    run_dirs = {fault: out / run_name(fault) for fault in args.faults}
    # refused before any run starts, so no earlier result is overwritten
    for run_dir in run_dirs.values():
        if has_results(run_dir):
            exit_with_error(
                f"{run_dir} already holds a run's results; remove it or choose another --out"
            )

    # the runs, then what each one's diagnosis named
    for number, (fault, run_dir) in enumerate(run_dirs.items(), start=1):
        log.info("fault lab %d/%d: %s -> %s", number, len(run_dirs), fault, run_dir)
        run_fault(fault, run_dir, args.seed)
    named = {fault: rules_named(run_dir) for fault, run_dir in run_dirs.items()}

    # the matrix, and what did not come out as expected
    problems = mismatches(named)
    print("\n".join(matrix_lines(named)))
    lines = [f"# Fault lab, seed {args.seed}", "", matrix_markdown(named)]
    lines += [f"- not as expected: {problem}" for problem in problems] or ["Every run as expected."]
    (out / "fault_lab.md").write_text("\n".join(lines) + "\n")
    for problem in problems:
        print(f"not as expected: {problem}")
    print(f"saved {out / 'fault_lab.md'}; view the runs: tensorboard --logdir {out}")
    return 1 if problems else 0


if __name__ == "__main__":
    sys.exit(main())
