"""The MPIIGaze and ETH-XGaze loaders and the MPIIGaze preprocessing, on small fixture files
written in the published layouts."""

import json
import math

import h5py
import numpy as np
import pytest
import scipy.io
import torch

from gaze.data import build_datasets
from gaze.data.mpiigaze import PEOPLE
from gaze.errors import ConfigError
from gaze.geometry import pitchyaw_to_vector
from scripts.preprocess_mpiigaze import main as preprocess_main

PER_PERSON = 3


def _write_mpiigaze_h5(path, per_person=PER_PERSON, broken=None):
    """One group per person with image/pose/gaze; `broken` = (person, dataset, bad array)."""
    with h5py.File(path, "w") as file:
        for number, person in enumerate(PEOPLE):
            images = np.full((per_person, 36, 60), number, dtype=np.uint8)
            gaze = np.tile(np.float32([0.01 * number, -0.02 * number]), (per_person, 1))
            fields = {"image": images, "pose": np.zeros((per_person, 2), np.float32), "gaze": gaze}
            if broken and broken[0] == person:
                fields.pop(broken[1])
                if broken[2] is not None:
                    fields[broken[1]] = broken[2]
            for name, values in fields.items():
                file.create_dataset(f"{person}/{name}", data=values)
    return path


def _mpiigaze(compose_config, path, *overrides):
    return compose_config(["data=mpiigaze", f"data.path={path}", *overrides]).data


def test_mpiigaze_leaves_the_test_person_out(compose_config, tmp_path):
    path = _write_mpiigaze_h5(tmp_path / "MPIIGaze.h5")
    train, val = build_datasets(_mpiigaze(compose_config, path, "data.test_person=4"))
    assert (len(train), len(val)) == (14 * PER_PERSON, PER_PERSON)
    assert train.images.shape[1:] == (1, 36, 60) and train.images.dtype == torch.uint8
    # person 4's pixels and labels are all in val, and none of them in train
    assert (val.images == 4).all() and not (train.images == 4).any()
    assert torch.allclose(val.gaze, torch.tensor([[0.04, -0.08]] * PER_PERSON))


def test_mpiigaze_trains_end_to_end_through_the_config_group(compose_config, tmp_path):
    from gaze.train import train

    path = _write_mpiigaze_h5(tmp_path / "MPIIGaze.h5", per_person=2)
    cfg = compose_config(
        ["data=mpiigaze", f"data.path={path}", "train.steps=2", "train.batch_size=8",
         "train.eval_every=2", "log.every=1", "log.hist_every=2", "model.hidden=16"]
    )  # fmt: skip
    summary = train(cfg, tmp_path / "run")
    assert math.isfinite(summary["val/angular_error_deg"])


@pytest.mark.parametrize(
    ("broken", "message"),
    [
        (("p03", "gaze", None), r"MPIIGaze.h5: /p03/gaze is missing; see data/README.md"),
        (
            ("p07", "image", np.zeros((3, 36, 61), np.uint8)),
            r"/p07/image has shape \(3, 36, 61\), expected \(N, 36, 60\); see data/README.md",
        ),
        (
            ("p01", "gaze", np.zeros((2, 2), np.float32)),
            r"p01: sample counts differ \(image 3, gaze 2, pose 3\)",
        ),
    ],
)
def test_a_malformed_mpiigaze_file_fails_in_one_line(compose_config, tmp_path, broken, message):
    path = _write_mpiigaze_h5(tmp_path / "MPIIGaze.h5", broken=broken)
    with pytest.raises(ConfigError, match=message):
        build_datasets(_mpiigaze(compose_config, path))


def test_a_missing_mpiigaze_file_or_bad_person_fails_naming_the_key(compose_config, tmp_path):
    missing = tmp_path / "nowhere.h5"
    with pytest.raises(ConfigError, match=rf"data.path={missing} is not an existing file; see"):
        build_datasets(_mpiigaze(compose_config, missing))
    path = _write_mpiigaze_h5(tmp_path / "MPIIGaze.h5")
    with pytest.raises(ConfigError, match=r"data.test_person=15 .* 0 to 14"):
        build_datasets(_mpiigaze(compose_config, path, "data.test_person=15"))


def test_a_bad_data_file_fails_on_the_command_line_before_training(tmp_path):
    from tests.conftest import run_cli

    result = run_cli("data=mpiigaze", f"data.path={tmp_path}/none.h5", cwd=tmp_path, timeout=120)
    assert result.returncode == 2
    assert result.stderr.strip().splitlines()[-1].startswith("error: data.path=")
    assert "data/README.md" in result.stderr


def _write_eth_xgaze(root, subjects=4, per_subject=5, size=32):
    (root / "train").mkdir(parents=True)
    names = [f"subject{number:04d}.h5" for number in range(subjects)]
    (root / "train_test_split.json").write_text(
        json.dumps({"train": names, "test": ["subject9999.h5"]})
    )
    for number, name in enumerate(names):
        patches = np.zeros((per_subject, size, size, 3), np.uint8)
        patches[..., 0] = 200  # blue, as the files store BGR
        gaze = np.tile(np.float32([0.1 * number, 0.0]), (per_subject, 1))
        with h5py.File(root / "train" / name, "w") as file:
            file.create_dataset("face_patch", data=patches)
            file.create_dataset("face_gaze", data=gaze)
            file.create_dataset("face_head_pose", data=np.zeros_like(gaze))
    return root


def _eth(compose_config, root, *overrides):
    # four fixture subjects: hold out one unless a test says otherwise
    return compose_config(
        ["data=eth_xgaze", f"data.path={root}", "data.val_subjects=1", *overrides]
    ).data


def test_eth_xgaze_holds_out_the_last_subjects_and_resizes_to_rgb(compose_config, tmp_path):
    root = _write_eth_xgaze(tmp_path / "xgaze")
    overrides = ("data.height=16", "data.width=24")
    train, val = build_datasets(_eth(compose_config, root, *overrides))
    assert (len(train), len(val)) == (15, 5)
    assert train.images.shape == (15, 3, 16, 24)
    # BGR on disk, RGB in the set: the blue channel is last
    assert (train.images[:, 2] == 200).all() and (train.images[:, 0] == 0).all()
    assert torch.allclose(val.gaze[:, 0], torch.full((5,), 0.3))


def test_eth_xgaze_reads_a_capped_number_of_grey_samples(compose_config, tmp_path):
    root = _write_eth_xgaze(tmp_path / "xgaze")
    overrides = ("data.per_subject=2", "data.channels=1")
    train, val = build_datasets(_eth(compose_config, root, *overrides, "data.height=8"))
    assert (len(train), len(val)) == (3 * 2, 2)
    assert train.images.shape[1:] == (1, 8, 112)
    # grey is the luminance of the RGB patch: 0.114 of the blue 200
    assert (train.images == 23).all()


def test_eth_xgaze_bad_files_fail_in_one_line(compose_config, tmp_path):
    root = _write_eth_xgaze(tmp_path / "xgaze")
    with h5py.File(root / "train" / "subject0002.h5", "a") as file:
        del file["face_gaze"]
        file.create_dataset("face_gaze", data=np.zeros((5, 3), np.float32))
    with pytest.raises(ConfigError, match=r"subject0002.h5: /face_gaze has shape \(5, 3\)"):
        build_datasets(_eth(compose_config, root))
    (root / "train" / "subject0001.h5").unlink()
    with pytest.raises(ConfigError, match=r"subject0001.h5 is not an existing file; see"):
        build_datasets(_eth(compose_config, root))
    (root / "train_test_split.json").write_text("{}")
    with pytest.raises(ConfigError, match=r"train_test_split.json: key 'train' must list"):
        build_datasets(_eth(compose_config, root))
    with pytest.raises(ConfigError, match=r"data.val_subjects=9 leaves no training subject"):
        build_datasets(
            _eth(compose_config, _write_eth_xgaze(tmp_path / "x2"), "data.val_subjects=9")
        )


def _gaze_vector(pitch, yaw):
    return pitchyaw_to_vector(torch.tensor([pitch, yaw], dtype=torch.float64)).numpy()


def _write_mat_tree(root):
    """The official layout: Data/Normalized/pXX/dayNN.mat and the evaluation sample lists."""
    lists = root / "Evaluation Subset" / "sample list for eye image"
    lists.mkdir(parents=True)
    for number, person in enumerate(PEOPLE):
        folder = root / "Data" / "Normalized" / person
        folder.mkdir(parents=True)
        for day in ("day01", "day02"):
            sides = {}
            for side, value in (("left", 10), ("right", 20)):
                images = np.zeros((3, 36, 60), np.uint8)
                images[:, :, :30] = value  # a bright left half, to see the right eye's mirroring
                gaze = np.stack([_gaze_vector(0.1, 0.2 + 0.1 * i) for i in range(3)])
                pose = np.tile([0.0, 0.3, 0.0], (3, 1))  # a rotation vector: 0.3 rad about y
                sides[side] = {"image": images, "gaze": gaze, "pose": pose}
            scipy.io.savemat(folder / f"{day}.mat", {"data": sides})
        lines = ["day01/0001.jpg left", "day02/0003.jpg right"]
        (lists / f"{person}.txt").write_text("\n".join(lines[: 1 + (number > 0)]) + "\n")
    return root


def test_preprocess_builds_the_file_the_loader_reads(compose_config, tmp_path):
    root = _write_mat_tree(tmp_path / "MPIIGaze")
    output = tmp_path / "out" / "MPIIGaze.h5"
    preprocess_main(["--dataset", str(root), "--output", str(output)])
    with h5py.File(output) as file:
        assert file["p00/image"].shape == (1, 36, 60) and file["p01/image"].shape == (2, 36, 60)
        left, right = file["p01/image"][0], file["p01/image"][1]
        gaze, pose = file["p01/gaze"][()], file["p01/pose"][()]
    assert (left[:, :30] == 10).all() and (left[:, 30:] == 0).all()
    # the right eye is mirrored: its bright half is now on the right, its yaws negated
    assert (right[:, 30:] == 20).all() and (right[:, :30] == 0).all()
    np.testing.assert_allclose(gaze, [[0.1, 0.2], [0.1, -0.4]], atol=1e-6)
    # a head turned by +0.3 rad about y looks along -z turned towards -x: yaw +0.3
    np.testing.assert_allclose(pose, [[0.0, 0.3], [0.0, -0.3]], atol=1e-6)
    train, val = build_datasets(_mpiigaze(compose_config, output, "data.test_person=0"))
    assert (len(train), len(val)) == (28, 1)


def test_preprocess_refuses_a_bad_tree_and_keeps_an_existing_output(tmp_path, capsys):
    root = _write_mat_tree(tmp_path / "MPIIGaze")
    (root / "Data" / "Normalized" / "p05" / "day02.mat").unlink()
    with pytest.raises(SystemExit) as exited:
        preprocess_main(["--dataset", str(root), "--output", str(tmp_path / "a.h5")])
    assert exited.value.code == 2
    assert "p05/day02.mat is missing (listed in p05.txt)" in capsys.readouterr().err
    assert not (tmp_path / "a.h5").exists()

    existing = tmp_path / "kept.h5"
    existing.write_bytes(b"results")
    with pytest.raises(SystemExit):
        preprocess_main(["--dataset", str(root), "--output", str(existing)])
    assert "kept.h5 already exists" in capsys.readouterr().err
    assert existing.read_bytes() == b"results"
