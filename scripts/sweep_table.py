"""One table of a Hydra sweep's jobs, failed ones included: `python scripts/sweep_table.py DIR`.

Prints the table and saves sweep_table.csv, sweep_table.md and sweep_loss.png into DIR.
"""

import argparse
import sys
from pathlib import Path

import pandas as pd

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # run from a checkout, uninstalled

from gaze.sweep import sweep_table, write_table  # noqa: E402


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("sweep_dir", type=Path, help="a multirun directory, e.g. runs/sweeps/...")
    args = parser.parse_args(argv)
    try:
        table = sweep_table(args.sweep_dir)
    except FileNotFoundError as error:
        sys.stderr.write(f"error: {error}\n")
        return 2
    paths = write_table(table, args.sweep_dir)
    with pd.option_context("display.width", 200, "display.max_columns", None):
        print(table.drop(columns=["error", "dir"]).to_string(index=False, na_rep=""))
    for row in table[table["status"] != "ok"].itertuples():
        print(f"job {row.job} {row.status}: {row.error} ({row.dir})")
    print("saved " + ", ".join(str(p) for p in paths.values()))
    return 0


if __name__ == "__main__":
    sys.exit(main())
