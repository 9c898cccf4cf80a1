from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch

from exprflow.errors import InputError
from exprflow.models.probes.linear_probe import (
    LinearProbe,
    LinearProbeConfig,
    load_published,
)

PUBLISHED = "cs282a_linear_probe.pth"


def _n_params(module: torch.nn.Module) -> int:
    return sum(p.numel() for p in module.parameters())


@pytest.fixture
def published_path(real_dir: Path) -> Path:
    return real_dir / "basenji2" / PUBLISHED


def test_tiny_shapes() -> None:
    probe = LinearProbe(LinearProbeConfig.tiny(tracks=5))
    x = torch.randn(3, 64, 896)
    out = probe(x)
    assert out.shape == (3, 5, 896)
    assert bool((out >= 0).all())


def test_published_parameter_count() -> None:
    with torch.device("meta"):
        probe = LinearProbe(LinearProbeConfig())
    assert _n_params(probe) == 1536 * 18 + 18 == 27_666


def test_published_initialisation() -> None:
    torch.manual_seed(0)
    probe = LinearProbe(LinearProbeConfig())
    assert not probe.conv_layer.bias.any()
    # Kaiming normal, ReLU gain: std = sqrt(2 / fan_in)
    assert probe.conv_layer.weight.std().item() == pytest.approx((2 / 1536) ** 0.5, rel=0.02)


def test_wrong_channels_are_refused() -> None:
    with pytest.raises(ValueError, match=r"\(batch, 64, bins\).*\(1, 896, 64\)"):
        LinearProbe(LinearProbeConfig.tiny())(torch.zeros(1, 896, 64))


def test_published_probe_reproduces_its_weights(published_path: Path) -> None:
    probe = load_published(published_path)
    assert isinstance(probe, LinearProbe)
    assert probe.config == LinearProbeConfig.published()
    assert not probe.training
    state = torch.load(published_path, map_location="cpu", weights_only=True)
    weight = state["conv_layer.weight"].numpy()[:, :, 0].astype(np.float64)
    bias = state["conv_layer.bias"].numpy().astype(np.float64)

    rng = np.random.default_rng(0)
    x = rng.standard_normal((2, 1536, 896)).astype(np.float32)
    with torch.no_grad():
        got = probe(torch.from_numpy(x)).numpy()
    expected = np.logaddexp(0.0, np.einsum("tc,ncb->ntb", weight, x) + bias[None, :, None])
    assert got.shape == (2, 18, 896)
    np.testing.assert_allclose(got, expected, rtol=1e-5, atol=1e-3)  # values reach ~500


def _published_state(published_path: Path) -> dict[str, torch.Tensor]:
    return dict(torch.load(published_path, map_location="cpu", weights_only=True))


def _write(tmp_path: Path, state: dict[str, torch.Tensor]) -> Path:
    path = tmp_path / "probe.pth"
    torch.save(state, path)
    return path


def test_missing_key(published_path: Path, tmp_path: Path) -> None:
    state = _published_state(published_path)
    del state["conv_layer.bias"]
    with pytest.raises(InputError, match=r"probe.pth: missing keys \['conv_layer.bias'\]"):
        load_published(_write(tmp_path, state))


def test_unexpected_key(published_path: Path, tmp_path: Path) -> None:
    state = _published_state(published_path)
    state["extra.weight"] = torch.zeros(1)
    with pytest.raises(InputError, match=r"unexpected keys \['extra.weight'\]"):
        load_published(_write(tmp_path, state))


@pytest.mark.parametrize(
    ("key", "shape", "problem"),
    [
        ("conv_layer.bias", (17,), r"conv_layer.bias: has shape \[17\], expected \[18\]"),
        ("conv_layer.weight", (18, 1536), r"conv_layer.weight: has shape \[18, 1536\], expected 3"),
        (
            "conv_layer.weight",
            (18, 1536, 3),
            r"conv_layer.weight: has shape \[18, 1536, 3\], expected \[18, 1536, 1\]",
        ),
        ("conv_layer.weight", (0, 1536, 1), "no valid sizes"),
    ],
)
def test_wrong_shapes(
    published_path: Path, tmp_path: Path, key: str, shape: tuple, problem: str
) -> None:
    state = _published_state(published_path)
    state[key] = torch.zeros(shape)
    with pytest.raises(InputError, match=problem) as info:
        load_published(_write(tmp_path, state))
    assert "probe.pth" in str(info.value)


def test_integer_tensor(published_path: Path, tmp_path: Path) -> None:
    state = _published_state(published_path)
    state["conv_layer.bias"] = torch.zeros(18, dtype=torch.int64)
    with pytest.raises(InputError, match=r"conv_layer\.bias: is torch\.int64, not a float tensor"):
        load_published(_write(tmp_path, state))


def test_other_sizes_load(tmp_path: Path) -> None:
    torch.manual_seed(1)
    trained = LinearProbe(LinearProbeConfig.tiny(channels=8, tracks=3))
    loaded = load_published(_write(tmp_path, trained.state_dict()))
    assert loaded.config == LinearProbeConfig(channels=8, tracks=3)
    x = torch.randn(2, 8, 7)
    torch.testing.assert_close(loaded(x), trained(x), rtol=0, atol=0)
