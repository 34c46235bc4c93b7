"""What a run writes about itself: a TensorBoard event file and metrics.csv, side by side."""

import csv
import os
from pathlib import Path

from tensorboard.compat.proto.summary_pb2 import HistogramProto, Summary
from torch.utils.tensorboard import SummaryWriter

from gaze.errors import ConfigError
from gaze.monitor import Histogram


class RunLog:
    """Writes the scalars and histograms of a run into `run_dir`.

    All the values of one step go into one event (one protobuf, one write), rather than one
    event per tag as SummaryWriter.add_scalar would do: a step logs hundreds of tags.
    `columns` fixes the metrics.csv header; a value a step lacks is left empty.
    With `resume_step`, the log continues a run that was checkpointed at that step: metrics.csv
    keeps its rows up to it and TensorBoard hides every older event after it (`purge_step`), so
    both show each step once, in order.
    """

    def __init__(self, run_dir: Path, columns: list[str], resume_step: int | None = None):
        self.run_dir = Path(run_dir)
        self.columns = ["step", *columns]
        csv_path = self.run_dir / "metrics.csv"
        resuming = resume_step is not None
        if resuming:
            keep_rows_up_to(csv_path, resume_step, self.columns)
        purge_step = resume_step + 1 if resuming else None
        self.writer = SummaryWriter(log_dir=str(self.run_dir), purge_step=purge_step)
        append = resuming and csv_path.exists()
        self._csv_file = open(csv_path, "a" if append else "w", newline="")
        self._csv = csv.DictWriter(self._csv_file, fieldnames=self.columns, restval="")
        if not append:
            self._csv.writeheader()

    def scalars(self, step: int, values: dict[str, float]) -> None:
        """One TensorBoard event and one metrics.csv row for `values` at `step`."""
        unknown = set(values) - set(self.columns)
        if unknown:
            raise KeyError(f"metrics.csv has no column for {sorted(unknown)}")
        summary = Summary(value=[Summary.Value(tag=t, simple_value=v) for t, v in values.items()])
        self.writer.file_writer.add_summary(summary, step)
        self._csv.writerow({"step": step, **{t: _csv_number(v) for t, v in values.items()}})

    def histograms(self, step: int, histograms: dict[str, Histogram]) -> None:
        """All histograms of a step as one TensorBoard event."""
        values = [Summary.Value(tag=t, histo=_histogram_proto(h)) for t, h in histograms.items()]
        self.writer.file_writer.add_summary(Summary(value=values), step)

    def text(self, tag: str, markdown: str, step: int) -> None:
        self.writer.add_text(tag, markdown, step)

    def flush(self) -> None:
        self.writer.flush()
        self._csv_file.flush()

    def close(self) -> None:
        self.writer.close()
        self._csv_file.close()


def keep_rows_up_to(csv_path: Path, step: int, columns: list[str]) -> None:
    """Cuts metrics.csv after its last complete row at or before `step`, in place."""
    if not csv_path.exists():
        return
    # bytes, not text: the rows end in csv's \r\n, which must survive unchanged
    lines = csv_path.read_bytes().splitlines(keepends=True)
    header = next(csv.reader([lines[0].decode()]), None) if lines else None
    if header != columns:
        raise ConfigError(
            f"{csv_path} has other columns than this run writes; resume it with the config "
            "it was started with"
        )
    kept = lines[:1]
    for line in lines[1:]:
        # a run killed mid-write can leave a last line without its end
        if not line.endswith(b"\n") or int(line.split(b",", 1)[0]) > step:
            break
        kept.append(line)
    temporary = csv_path.with_name(csv_path.name + ".tmp")
    temporary.write_bytes(b"".join(kept))
    os.replace(temporary, csv_path)


def _csv_number(value: float) -> str:
    # repr: the shortest text that reads back as the same float (nan and inf included)
    return repr(float(value))


def _histogram_proto(histogram: Histogram) -> HistogramProto:
    # TensorBoard's format gives each bucket by its right edge; the first one starts at min
    return HistogramProto(
        min=histogram.minimum,
        max=histogram.maximum,
        num=histogram.count,
        sum=histogram.total,
        sum_squares=histogram.sum_squares,
        bucket_limit=histogram.edges[1:],
        bucket=histogram.counts,
    )
