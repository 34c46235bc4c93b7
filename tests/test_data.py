import pytest
import torch

from gaze.data import StepBatchSampler, build_datasets
from gaze.errors import ConfigError


def test_synthetic_data_is_deterministic_and_splits_are_apart(compose_config):
    cfg = compose_config(["data.train_size=40", "data.val_size=20"])
    train_a, val_a = build_datasets(cfg.data)
    train_b, _ = build_datasets(cfg.data)
    assert torch.equal(train_a.images, train_b.images)
    assert torch.equal(train_a.gaze, train_b.gaze)
    assert (len(train_a), len(val_a)) == (40, 20)
    assert not torch.equal(train_a.gaze[:20], val_a.gaze)
    assert train_a.images.shape[1:] == (1, cfg.data.height, cfg.data.width)


def test_another_data_seed_draws_other_samples(compose_config):
    base = ["data.train_size=10", "data.val_size=5"]
    first, _ = build_datasets(compose_config(base).data)
    second, _ = build_datasets(compose_config([*base, "data.seed=1"]).data)
    assert not torch.equal(first.gaze, second.gaze)


def test_subset_keeps_the_first_samples_and_the_whole_val_split(compose_config):
    full, val_full = build_datasets(compose_config(["data.train_size=50"]).data)
    cut, val_cut = build_datasets(compose_config(["data.train_size=50", "data.subset=7"]).data)
    assert len(cut) == 7
    assert torch.equal(cut.gaze, full.gaze[:7])
    assert torch.equal(val_cut.gaze, val_full.gaze)


def test_subset_larger_than_training_set_is_refused(compose_config):
    with pytest.raises(ConfigError, match=r"data.subset=51 .*\(50 samples\)"):
        build_datasets(compose_config(["data.train_size=50", "data.subset=51"]).data)


def test_items_are_normalised_floats(compose_config):
    train, _ = build_datasets(compose_config(["data.train_size=200"]).data)
    images, gaze = train.__getitems__(range(200))
    assert images.dtype == torch.float32 and gaze.shape == (200, 2)
    assert abs(images.mean().item()) < 0.5 and 0.5 < images.std().item() < 1.5


def test_batches_are_a_function_of_seed_and_step():
    whole = list(StepBatchSampler(size=10, batch_size=4, seed=3, steps=7))
    resumed = list(StepBatchSampler(size=10, batch_size=4, seed=3, steps=7, start_step=4))
    assert resumed == whole[4:]
    assert whole != list(StepBatchSampler(size=10, batch_size=4, seed=4, steps=7))
    # two full batches an epoch; each epoch's batches never repeat a sample
    assert all(len(b) == 4 for b in whole)
    assert len(set(whole[0]) | set(whole[1])) == 8


def test_a_set_smaller_than_one_batch_is_used_whole():
    batches = list(StepBatchSampler(size=3, batch_size=32, seed=0, steps=2))
    assert [sorted(b) for b in batches] == [[0, 1, 2], [0, 1, 2]]
