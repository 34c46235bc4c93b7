import numpy as np
import pytest
import torch
from torch import nn

from gaze.monitor import ParameterMonitor


def _model_with_gradients():
    torch.manual_seed(0)
    model = nn.Sequential(nn.Linear(5, 7), nn.ReLU(), nn.Linear(7, 2))
    model(torch.randn(11, 5)).pow(2).sum().backward()
    return model


def test_parameter_stats_match_a_plain_numpy_computation():
    model = _model_with_gradients()
    stats = ParameterMonitor(model).parameter_stats()
    assert stats.names == [n for n, _ in model.named_parameters()]
    for i, (_, p) in enumerate(model.named_parameters()):
        grad, weight = p.grad.numpy().ravel(), p.detach().numpy().ravel()
        assert stats.grad_norm[i] == pytest.approx(np.linalg.norm(grad), rel=1e-5)
        assert stats.grad_abs_mean[i] == pytest.approx(np.abs(grad).mean(), rel=1e-5)
        assert stats.grad_zero_fraction[i] == pytest.approx((grad == 0).mean())
        assert stats.weight_norm[i] == pytest.approx(np.linalg.norm(weight), rel=1e-5)
        assert stats.weight_std[i] == pytest.approx(weight.std(), rel=1e-4)
    total = np.sqrt(sum(np.sum(p.grad.numpy() ** 2) for p in model.parameters()))
    assert stats.total_grad_norm == pytest.approx(total, rel=1e-5)
    assert set(stats.scalars()) >= {"grad_norm/total", "grad_norm/0.weight", "weight_norm/2.bias"}


def test_update_ratio_measures_the_optimiser_step():
    model = _model_with_gradients()
    monitor = ParameterMonitor(model)
    before = [p.detach().clone() for p in model.parameters()]
    monitor.remember_weights()
    torch.optim.SGD(model.parameters(), lr=0.1).step()
    ratios = monitor.update_ratio()
    for ratio, old, p in zip(ratios, before, model.parameters(), strict=True):
        expected = torch.linalg.vector_norm(p.detach() - old) / torch.linalg.vector_norm(old)
        assert ratio.item() == pytest.approx(expected.item(), rel=1e-5)


def test_histograms_count_every_value_within_its_range():
    model = _model_with_gradients()
    histograms = ParameterMonitor(model, bins=8).histograms()
    assert set(histograms) == {
        f"{kind}/{name}" for kind in ("gradient", "weight") for name, _ in model.named_parameters()
    }
    weight = model[0].weight.detach().numpy().ravel()
    histogram = histograms["weight/0.weight"]
    assert sum(histogram.counts) == weight.size == histogram.count
    assert histogram.minimum == pytest.approx(weight.min())
    assert histogram.maximum == pytest.approx(weight.max())
    assert histogram.sum_squares == pytest.approx(np.sum(weight**2), rel=1e-5)
    expected, _ = np.histogram(weight, bins=8, range=(weight.min(), weight.max()))
    assert np.abs(np.array(histogram.counts) - expected).sum() <= 2  # edge rounding only


def test_a_parameter_without_gradient_counts_as_zero():
    model = nn.Linear(3, 1)
    stats = ParameterMonitor(model).parameter_stats()
    assert stats.grad_norm.tolist() == [0.0, 0.0]
    assert stats.grad_zero_fraction.tolist() == [1.0, 1.0]
