import math

import pytest
import torch
from omegaconf import OmegaConf
from torch import nn

from gaze.init import apply_init
from gaze.model import GazeNet


def _model(seed: int = 0) -> GazeNet:
    torch.manual_seed(seed)
    return GazeNet("mobilenetv2_100")


def _layers(model, kinds):
    return [m for m in model.modules() if isinstance(m, kinds)]


def _init(scheme: str, **extra):
    return OmegaConf.create({"scheme": scheme, **extra})


def test_default_leaves_library_weights():
    fresh, untouched = _model(), apply_init(_model(), _init("default"))
    for a, b in zip(fresh.parameters(), untouched.parameters(), strict=True):
        assert torch.equal(a, b)


def test_kaiming_sets_relu_gain_weights_unit_norm_layers_and_zero_biases():
    model = apply_init(_model(), _init("kaiming"))
    for layer in _layers(model, (nn.Conv2d, nn.Linear)):
        fan_in = layer.weight[0].numel()
        bound = math.sqrt(2.0) * math.sqrt(3.0 / fan_in)
        assert layer.weight.abs().max() <= bound + 1e-6
        if layer.weight.numel() > 1000:  # enough samples for the spread to be uniform's
            assert layer.weight.std().item() == pytest.approx(bound / math.sqrt(3), rel=0.1)
        if layer.bias is not None:
            assert torch.count_nonzero(layer.bias) == 0
    for norm in _layers(model, nn.BatchNorm2d):
        assert torch.equal(norm.weight, torch.ones_like(norm.weight))
        assert torch.count_nonzero(norm.bias) == 0


def test_xavier_bounds_weights_by_fan_in_and_out():
    model = apply_init(_model(), _init("xavier"))
    layer = model.fc1
    fan_out, fan_in = layer.weight.shape
    assert layer.weight.abs().max() <= math.sqrt(6.0 / (fan_in + fan_out)) + 1e-6
    assert layer.weight.std() > 0


@pytest.mark.parametrize("std", [1e-6, 1e-3])
def test_near_zero_draws_tiny_weights(std):
    model = apply_init(_model(), _init("near_zero", std=std))
    weights = torch.cat([m.weight.flatten() for m in _layers(model, (nn.Conv2d, nn.Linear))])
    assert weights.std().item() == pytest.approx(std, rel=0.05)
    assert model.fc2.weight.abs().mean() < 2 * std


def test_zeros_zeroes_every_conv_and_linear_layer():
    model = apply_init(_model(), _init("zeros"))
    for layer in _layers(model, (nn.Conv2d, nn.Linear)):
        assert torch.count_nonzero(layer.weight) == 0


def test_unknown_scheme_names_the_key():
    with pytest.raises(ValueError, match="init.scheme='orthogonal'"):
        apply_init(_model(), _init("orthogonal"))
