import numpy as np
import pytest
import torch
from torch import nn

from gaze.monitor import SMALL_TENSOR, ParameterMonitor


def _model_with_gradients(hidden: int = 7):
    torch.manual_seed(0)
    model = nn.Sequential(nn.Linear(5, hidden), nn.ReLU(), nn.Linear(hidden, 2))
    model(torch.randn(11, 5)).pow(2).sum().backward()
    return model


# 7: every tensor small (measured together); 4000: the first weight alone above SMALL_TENSOR
@pytest.mark.parametrize("hidden", [7, 4000])
def test_parameter_stats_match_a_plain_numpy_computation(hidden):
    model = _model_with_gradients(hidden)
    assert (model[0].weight.numel() > SMALL_TENSOR) == (hidden == 4000)
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
    monitor.remember_weights(monitor.parameter_stats().weight_norm)
    torch.optim.SGD(model.parameters(), lr=0.1).step()
    ratios = monitor.update_ratio()
    for ratio, old, p in zip(ratios, before, model.parameters(), strict=True):
        expected = torch.linalg.vector_norm(p.detach() - old) / torch.linalg.vector_norm(old)
        assert ratio.item() == pytest.approx(expected.item(), rel=1e-5)


@pytest.mark.parametrize("hidden", [7, 4000])
def test_histograms_count_every_value_within_its_range(hidden):
    model = _model_with_gradients(hidden)
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
    for name, parameter in model.named_parameters():
        grad = parameter.grad.numpy().ravel()
        histogram = histograms[f"gradient/{name}"]
        assert histogram.count == grad.size == sum(histogram.counts)
        assert histogram.total == pytest.approx(grad.sum(), rel=1e-4, abs=1e-6)
        assert histogram.minimum == grad.min() and histogram.maximum == grad.max()
        expected, _ = np.histogram(grad, bins=8, range=(grad.min(), grad.max()))
        assert np.abs(np.array(histogram.counts) - expected).sum() <= 2


def test_a_parameter_without_gradient_counts_as_zero():
    model = nn.Linear(3, 1)
    stats = ParameterMonitor(model).parameter_stats()
    assert stats.grad_norm.tolist() == [0.0, 0.0]
    assert stats.grad_zero_fraction.tolist() == [1.0, 1.0]


def test_negative_zero_gradients_count_as_zero():
    model = nn.Linear(4, 1)
    model.weight.grad = torch.tensor([[0.0, -0.0, 2.0, -3.0]])
    model.bias.grad = torch.tensor([-0.0])
    stats = ParameterMonitor(model).parameter_stats()
    assert stats.grad_zero_fraction.tolist() == [0.5, 1.0]
    assert stats.grad_abs_mean.tolist() == [pytest.approx(1.25), 0.0]


@pytest.mark.parametrize("hidden", [7, 4000])
def test_the_cpu_and_the_multi_tensor_paths_agree(hidden):
    model = _model_with_gradients(hidden)
    monitor = ParameterMonitor(model)
    per_tensor, per_tensor_norms = monitor.parameter_stats(), monitor.norms()
    monitor._fused = lambda: True  # the CUDA path, run by torch's CPU fallback
    fused, fused_norms = monitor.parameter_stats(), monitor.norms()
    for field in ("grad_norm", "grad_abs_mean", "grad_zero_fraction", "weight_norm", "weight_std"):
        assert torch.allclose(getattr(per_tensor, field), getattr(fused, field), rtol=1e-5)
    for a, b in zip(per_tensor_norms, fused_norms, strict=True):
        assert torch.allclose(a, b, rtol=1e-5)


@pytest.mark.parametrize("hidden", [7, 4000])
def test_norms_are_the_statistics_norms(hidden):
    model = _model_with_gradients(hidden)
    monitor = ParameterMonitor(model)
    grad_norm, weight_norm = monitor.norms()
    stats = monitor.parameter_stats()
    assert torch.allclose(grad_norm, stats.grad_norm)
    assert torch.allclose(weight_norm, stats.weight_norm)


def test_update_ratio_can_be_measured_again_after_a_second_step():
    model = _model_with_gradients()
    monitor, optimizer = ParameterMonitor(model), torch.optim.SGD(model.parameters(), lr=0.1)
    for _ in range(2):
        assert not monitor.remembers_weights
        before = [p.detach().clone() for p in model.parameters()]
        monitor.remember_weights(monitor.parameter_stats().weight_norm)
        optimizer.step()
        ratios = monitor.update_ratio()
        expected = [
            torch.linalg.vector_norm(p.detach() - b) / torch.linalg.vector_norm(b)
            for p, b in zip(model.parameters(), before, strict=True)
        ]
        assert ratios.tolist() == pytest.approx([e.item() for e in expected], rel=1e-5)
    with pytest.raises(RuntimeError, match="remember_weights"):
        monitor.update_ratio()


def test_histograms_of_a_constant_tensor_put_every_value_in_one_bin():
    model = nn.Linear(3, 2)
    with torch.no_grad():
        model.weight.fill_(0.25)
    model.weight.grad = torch.zeros(2, 3)
    model.bias.grad = torch.tensor([1.0, -1.0])
    histograms = ParameterMonitor(model, bins=4).histograms()
    assert histograms["weight/weight"].counts == [6.0, 0.0, 0.0, 0.0]
    assert histograms["gradient/weight"].counts == [6.0, 0.0, 0.0, 0.0]
    # the maximum joins the last bin, as TensorBoard's right-closed buckets expect
    assert histograms["gradient/bias"].counts == [1.0, 0.0, 0.0, 1.0]
    assert histograms["gradient/bias"].edges == [-1.0, -0.5, 0.0, 0.5, 1.0]


@pytest.mark.parametrize("size", [(20, 30), (200, 100)])  # measured together, and alone
def test_histograms_of_a_narrow_range_far_from_zero_keep_their_shape(size):
    model = nn.Linear(size[1], size[0], bias=False)
    with torch.no_grad():
        spread = torch.linspace(-1, 1, model.weight.numel()).view(size) ** 3
        model.weight.copy_(1.0 + 1e-5 * spread)
    model.weight.grad = torch.zeros(size)
    histograms = ParameterMonitor(model, bins=16).histograms()
    weight = model.weight.detach().double().numpy().ravel()
    expected, _ = np.histogram(weight, bins=16, range=(weight.min(), weight.max()))
    assert np.abs(np.array(histograms["weight/weight"].counts) - expected).max() <= 2
    assert histograms["gradient/weight"].counts == [weight.size] + [0.0] * 15
