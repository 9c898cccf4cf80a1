from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch
from scipy.special import erf

from exprflow.errors import InputError
from exprflow.models.probes.maxpool_perceptron import (
    MaxPoolPerceptron,
    MaxPoolPerceptronConfig,
    load_published,
)

PUBLISHED = "cs282a_maxpool_perceptron.pt"


def _gelu(x: np.ndarray) -> np.ndarray:
    """Exact (erf) GELU, as torch.nn.GELU()."""
    return 0.5 * x * (1.0 + erf(x / np.sqrt(2.0)))


@pytest.fixture
def published_path(real_dir: Path) -> Path:
    return real_dir / "basenji2" / PUBLISHED


def test_tiny_shapes() -> None:
    head = MaxPoolPerceptron(MaxPoolPerceptronConfig.tiny(tracks=5))
    assert head(torch.randn(3, 64, 896)).shape == (3, 5)
    assert head(torch.randn(2, 64, 10)).shape == (2, 5)  # the max runs over any number of bins


def test_published_parameter_count() -> None:
    with torch.device("meta"):
        head = MaxPoolPerceptron(MaxPoolPerceptronConfig())
    n = sum(p.numel() for p in head.parameters())
    assert n == (1536 * 500 + 500) + (500 * 18 + 18) == 777_518  # 0.78 M


def test_published_head_reproduces_its_weights(published_path: Path) -> None:
    head = load_published(published_path)
    assert isinstance(head, MaxPoolPerceptron)
    assert head.config == MaxPoolPerceptronConfig.published()
    assert not head.training
    state = torch.load(published_path, map_location="cpu", weights_only=True)
    w1 = state["layers.conv1x1.weight"].numpy()[:, :, 0].astype(np.float64)
    b1 = state["layers.conv1x1.bias"].numpy().astype(np.float64)
    w2 = state["layers.fc1.weight"].numpy().astype(np.float64)
    b2 = state["layers.fc1.bias"].numpy().astype(np.float64)

    rng = np.random.default_rng(0)
    x = rng.standard_normal((2, 1536, 896)).astype(np.float32)
    with torch.no_grad():
        got = head(torch.from_numpy(x)).numpy()
    hidden = _gelu(np.einsum("hc,ncb->nhb", w1, x) + b1[None, :, None])
    expected = hidden.max(axis=2) @ w2.T + b2
    assert got.shape == (2, 18)
    np.testing.assert_allclose(got, expected, rtol=1e-5, atol=1e-4)


def _state(published_path: Path) -> dict[str, torch.Tensor]:
    return dict(torch.load(published_path, map_location="cpu", weights_only=True))


def _write(tmp_path: Path, state: dict[str, torch.Tensor]) -> Path:
    path = tmp_path / "perceptron.pt"
    torch.save(state, path)
    return path


def test_missing_and_unexpected_keys(published_path: Path, tmp_path: Path) -> None:
    state = _state(published_path)
    state["layers.fc2.weight"] = state.pop("layers.fc1.weight")
    with pytest.raises(
        InputError,
        match=r"perceptron.pt: missing keys \['layers.fc1.weight'\], "
        r"unexpected keys \['layers.fc2.weight'\]",
    ):
        load_published(_write(tmp_path, state))


def test_hidden_mismatch(published_path: Path, tmp_path: Path) -> None:
    state = _state(published_path)
    state["layers.fc1.weight"] = torch.zeros(18, 499)
    with pytest.raises(
        InputError, match=r"layers.fc1.weight: has shape \[18, 499\], expected \[18, 500\]"
    ):
        load_published(_write(tmp_path, state))


def test_linear_probe_file_is_refused(real_dir: Path) -> None:
    with pytest.raises(InputError, match=r"missing keys \['layers.conv1x1.weight'"):
        load_published(real_dir / "basenji2" / "cs282a_linear_probe.pth")
