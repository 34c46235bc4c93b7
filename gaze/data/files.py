"""Checked access to the data files a real data set reads, with one-line errors."""

from pathlib import Path

from gaze.errors import ConfigError

HELP = "see data/README.md"


def existing_path(key: str, value, kind: str = "file") -> Path:
    """The path in config key `key`, or ConfigError when it is unset or not a `kind` (file/dir)."""
    if value in (None, ""):
        raise ConfigError(f"{key} is not set; point it at the data set's {kind} ({HELP})")
    path = Path(str(value)).expanduser()
    present = path.is_file() if kind == "file" else path.is_dir()
    if not present:
        raise ConfigError(f"{key}={path} is not an existing {kind}; {HELP}")
    return path


def open_h5(path: Path):
    """The HDF5 file at `path` opened for reading, or ConfigError when it is not one."""
    import h5py

    try:
        return h5py.File(path, "r")
    except OSError as error:
        raise ConfigError(f"{path} is not a readable HDF5 file ({error}); {HELP}") from None


def checked_dataset(group, name: str, shape: tuple, dtype=None, where: str = ""):
    """`group[name]`, after checking it exists and matches `shape` (None: any size there).

    Raises ConfigError naming the file, the dataset and the shape or dtype that is wrong.
    """
    place = f"{where or group.file.filename}: {group.name.rstrip('/')}/{name}"
    if name not in group:
        raise ConfigError(f"{place} is missing; {HELP}")
    dataset = group[name]
    matches = len(dataset.shape) == len(shape) and all(
        want is None or want == got for want, got in zip(shape, dataset.shape, strict=True)
    )
    if not matches:
        expected = "(" + ", ".join("N" if size is None else str(size) for size in shape) + ")"
        raise ConfigError(f"{place} has shape {dataset.shape}, expected {expected}; {HELP}")
    if dtype is not None and dataset.dtype != dtype:
        raise ConfigError(f"{place} has dtype {dataset.dtype}, expected {dtype}; {HELP}")
    return dataset


def check_same_length(where: str, **datasets) -> int:
    """The common first dimension of `datasets`, or ConfigError naming the ones that differ."""
    lengths = {name: dataset.shape[0] for name, dataset in datasets.items()}
    if len(set(lengths.values())) != 1:
        listed = ", ".join(f"{name} {length}" for name, length in lengths.items())
        raise ConfigError(f"{where}: sample counts differ ({listed}); {HELP}")
    return next(iter(lengths.values()))
