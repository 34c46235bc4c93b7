"""Builds the preprocessed MPIIGaze HDF5 file from the official download's normalised data.

Reads `Data/Normalized/pXX/dayNN.mat` (a struct `data` with `left` and `right`, each holding
`image` (N, 36, 60) uint8, `gaze` (N, 3) and `pose` (N, 3): a gaze vector and a head rotation
vector) for the samples that `Evaluation Subset/sample list for eye image/pXX.txt` lists
(`dayNN/NNNN.jpg left|right` per line). Right eyes are mirrored into left eyes: the image is
flipped left to right and the yaw of gaze and pose negated.
"""

import logging
from pathlib import Path

import numpy as np
import torch

from gaze.data.files import HELP
from gaze.data.mpiigaze import HEIGHT, PEOPLE, WIDTH
from gaze.errors import ConfigError
from gaze.geometry import vector_to_pitchyaw

log = logging.getLogger(__name__)

NORMALIZED = Path("Data") / "Normalized"
SAMPLE_LISTS = Path("Evaluation Subset") / "sample list for eye image"


def read_sample_list(path: Path) -> list[tuple[str, int, str]]:
    """(day, index from 0, side) for each line `dayNN/NNNN.jpg side` of a sample list."""
    samples = []
    for number, line in enumerate(path.read_text().splitlines(), start=1):
        if not line.strip():
            continue
        try:
            image, side = line.split()
            day, name = image.split("/")
            index = int(Path(name).stem) - 1
        except ValueError:
            raise ConfigError(
                f"{path}:{number}: {line!r} is not 'dayNN/NNNN.jpg left|right'; {HELP}"
            ) from None
        if side not in ("left", "right"):
            raise ConfigError(f"{path}:{number}: side {side!r} is not left or right; {HELP}")
        samples.append((day, index, side))
    return samples


def read_day(path: Path) -> dict[str, dict[str, np.ndarray]]:
    """{'left': {'image', 'gaze', 'pose'}, 'right': {...}} of one dayNN.mat, shapes checked."""
    import scipy.io

    try:
        data = scipy.io.loadmat(path, simplify_cells=True)["data"]
    except (KeyError, ValueError, OSError) as error:
        raise ConfigError(f"{path} is not an MPIIGaze day file ({error!r}); {HELP}") from None
    sides = {}
    for side in ("left", "right"):
        if side not in data or not all(k in data[side] for k in ("image", "gaze", "pose")):
            raise ConfigError(f"{path}: data.{side} must hold image, gaze and pose; {HELP}")
        # simplify_cells squeezes a day of one sample down to a single image; undo that
        fields = data[side]
        sides[side] = {
            "image": np.asarray(fields["image"], dtype=np.uint8).reshape(-1, HEIGHT, WIDTH),
            "gaze": np.asarray(fields["gaze"], dtype=np.float64).reshape(-1, 3),
            "pose": np.asarray(fields["pose"], dtype=np.float64).reshape(-1, 3),
        }
    return sides


def head_pitchyaw(rotation_vectors: np.ndarray) -> np.ndarray:
    """(N, 2) head pitch and yaw in radians from (N, 3) head rotation vectors.

    The head's direction is minus its rotation's z axis (the face looks back along z), so a
    face turned to the camera has (0, 0), the same convention as the gaze.
    """
    from scipy.spatial.transform import Rotation

    axes = Rotation.from_rotvec(rotation_vectors).as_matrix()[:, :, 2]
    return vector_to_pitchyaw(-torch.from_numpy(axes)).numpy()


def person_samples(root: Path, person: str) -> dict[str, np.ndarray]:
    """The listed samples of one person: image (N, 36, 60) uint8, gaze and pose (N, 2)."""
    listed = read_sample_list(root / SAMPLE_LISTS / f"{person}.txt")
    days = {}
    images, gaze, pose = [], [], []
    for day, index, side in listed:
        if day not in days:
            path = root / NORMALIZED / person / f"{day}.mat"
            if not path.is_file():
                raise ConfigError(f"{path} is missing (listed in {person}.txt); {HELP}")
            days[day] = read_day(path)
        fields = days[day][side]
        if index >= len(fields["image"]):
            raise ConfigError(
                f"{person}.txt lists {day} sample {index + 1} {side}, but {day}.mat holds "
                f"{len(fields['image'])}; {HELP}"
            )
        image = fields["image"][index]
        angles = vector_to_pitchyaw(torch.from_numpy(fields["gaze"][index])).numpy()
        head = head_pitchyaw(fields["pose"][index : index + 1])[0]
        if side == "right":
            # mirrored into a left eye: the image flips and the yaws change sign
            image, angles, head = image[:, ::-1], angles * [1, -1], head * [1, -1]
        images.append(image)
        gaze.append(angles)
        pose.append(head)
    return {
        "image": np.stack(images).astype(np.uint8),
        "gaze": np.stack(gaze).astype(np.float32),
        "pose": np.stack(pose).astype(np.float32),
    }


def build_h5(root: Path, output: Path) -> dict[str, int]:
    """Writes `output` with groups p00 .. p14; returns the sample count of each person."""
    import h5py

    for needed in (root / NORMALIZED, root / SAMPLE_LISTS):
        if not needed.is_dir():
            raise ConfigError(f"{needed} is not a folder; is {root} the MPIIGaze folder? {HELP}")
    if output.exists():
        raise ConfigError(f"{output} already exists; remove it or write elsewhere")

    # read everyone first, so a broken input leaves no half-written file behind
    people = {}
    for person in PEOPLE:
        people[person] = person_samples(root, person)
        log.info("%s: %d samples", person, len(people[person]["image"]))
    output.parent.mkdir(parents=True, exist_ok=True)
    with h5py.File(output, "w") as file:
        for person, fields in people.items():
            for name, values in fields.items():
                file.create_dataset(f"{person}/{name}", data=values)
    return {person: len(fields["image"]) for person, fields in people.items()}
