from __future__ import annotations

import numpy as np
import pytest
import torch
from scipy.special import erf

from exprflow.models.probes.conv_perceptron import ConvPerceptron, ConvPerceptronConfig


def test_tiny_shapes() -> None:
    head = ConvPerceptron(ConvPerceptronConfig.tiny(tracks=5))
    assert head(torch.randn(3, 64, 896)).shape == (3, 5)


def test_published_parameter_count() -> None:
    with torch.device("meta"):
        head = ConvPerceptron(ConvPerceptronConfig())
    n = sum(p.numel() for p in head.parameters())
    assert n == (1536 * 500 + 500) + (500 * 896 * 18 + 18) == 8_832_518  # 8.83 M


def test_bins_must_match_the_linear_layer() -> None:
    head = ConvPerceptron(ConvPerceptronConfig.tiny(bins=16))
    with pytest.raises(ValueError, match=r"\(batch, 64, 16\).*\(2, 64, 17\)"):
        head(torch.zeros(2, 64, 17))


def test_computes_linear_of_channel_major_flatten() -> None:
    torch.manual_seed(0)
    config = ConvPerceptronConfig(channels=6, tracks=3, bins=5, hidden=4)
    head = ConvPerceptron(config).eval()
    state = {k: v.double().numpy() for k, v in head.state_dict().items()}
    x = np.random.default_rng(0).standard_normal((2, 6, 5)).astype(np.float32)
    with torch.no_grad():
        got = head(torch.from_numpy(x)).numpy()
    pre = np.einsum("hc,ncb->nhb", state["layers.conv1x1.weight"][:, :, 0], x)
    pre += state["layers.conv1x1.bias"][None, :, None]
    hidden = 0.5 * pre * (1.0 + erf(pre / np.sqrt(2.0)))
    flat = hidden.reshape(2, 4 * 5)  # feature h * bins + b, as the published nn.Flatten
    expected = flat @ state["layers.fc1.weight"].T + state["layers.fc1.bias"]
    np.testing.assert_allclose(got, expected, rtol=1e-5, atol=1e-6)
