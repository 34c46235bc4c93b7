import pytest
import torch

from gaze.model import build_model


@pytest.mark.parametrize("backbone", ["mobilenetv2", "resnet50"])
def test_both_backbones_map_eye_patches_to_pitch_and_yaw(compose_config, backbone):
    cfg = compose_config([f"model={backbone}"])
    model = build_model(cfg.model, in_chans=cfg.data.channels).eval()
    images = torch.randn(3, cfg.data.channels, cfg.data.height, cfg.data.width)
    with torch.no_grad():
        assert model(images).shape == (3, 2)
    names = [n for n, _ in model.named_parameters()]
    assert {"fc1.weight", "fc1.bias", "fc2.weight", "fc2.bias"} <= set(names)
    assert any(n.startswith("backbone.") for n in names)
