"""Build data/mpiigaze/MPIIGaze.h5 from the official MPIIGaze download: see data/README.md."""

import argparse
import logging
import sys
from pathlib import Path

from gaze.data.mpiigaze_source import build_h5
from gaze.errors import ConfigError, exit_with_error

log = logging.getLogger("preprocess_mpiigaze")


def main(argv=None) -> None:
    logging.basicConfig(level=logging.INFO, format="%(message)s")
    parser = argparse.ArgumentParser(description=__doc__.split(":")[0])
    parser.add_argument(
        "--dataset", type=Path, required=True,
        help="the unpacked MPIIGaze folder (holding Data/ and 'Evaluation Subset/')",
    )  # fmt: skip
    parser.add_argument("--output", type=Path, default=Path("data/mpiigaze/MPIIGaze.h5"))
    args = parser.parse_args(argv)
    try:
        counts = build_h5(args.dataset, args.output)
    except ConfigError as error:
        exit_with_error(str(error))
    log.info("wrote %s: %d samples of %d people", args.output, sum(counts.values()), len(counts))


if __name__ == "__main__":
    sys.exit(main())
