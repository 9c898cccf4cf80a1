from __future__ import annotations

import itertools

import pytest
import torch
from torch import nn

from exprflow.models.promoter.config import LegNetSpec, backbone_spec
from exprflow.models.promoter.legnet import LegNet, LowRankBilinear, SqueezeExcite


def _onehot(batch: int, length: int) -> torch.Tensor:
    codes = torch.randint(0, 4, (batch, length), generator=torch.Generator().manual_seed(0))
    return nn.functional.one_hot(codes, 4).float()


def _linear(i: int, o: int, bias: bool = True) -> int:
    return i * o + (o if bias else 0)


def _legnet_parameters(blocks: tuple[int, ...]) -> int:
    """By hand: stem conv + BN, then per block inverted residual + SE + resize."""
    total = 4 * blocks[0] * 7 + 2 * blocks[0]
    for p, s in itertools.pairwise(blocks):
        e, r = 4 * s, p // 4
        inverted = p * e + 2 * e + e * 2 * 7 + 2 * e + e * p + 2 * p
        se = _linear(e, r) + _linear(r, r) + 2 * r * r + _linear(r, r // 2) + _linear(r + r // 2, e)
        resize = 2 * p * s * 7 + 2 * s
        total += inverted + se + resize
    return total


@pytest.mark.parametrize(
    ("name", "blocks", "expected"),
    [
        ("LegNet", (256, 128, 128, 64, 64, 64, 64), 1_779_640),
        ("LegNetLarge", (1024, 512, 512, 256, 256, 256, 256), 27_880_672),
    ],
)
def test_published_parameter_counts(name: str, blocks: tuple[int, ...], expected: int) -> None:
    spec = backbone_spec(name, "published")
    assert isinstance(spec, LegNetSpec) and spec.blocks == blocks
    assert _legnet_parameters(blocks) == expected
    with torch.device("meta"):
        model = LegNet(spec)
    assert sum(p.numel() for p in model.parameters()) == expected
    assert model.out_dim == blocks[-1]


def test_published_legnet_forward() -> None:
    model = LegNet().eval()
    with torch.no_grad():
        assert model(_onehot(2, 250)).shape == (2, 64)


@pytest.mark.parametrize("name", ["LegNet", "LegNetLarge"])
@pytest.mark.parametrize("length", [145, 250, 600])
def test_tiny_any_length(name: str, length: int) -> None:
    spec = backbone_spec(name, "tiny")
    assert isinstance(spec, LegNetSpec)
    model = LegNet(spec).eval()
    with torch.no_grad():
        assert model(_onehot(3, length)).shape == (3, spec.blocks[-1])
    assert model.probe_frozen == ("stem.", "blocks.") and model.fixed_length is None


def test_grouped_conv_has_two_channels_per_group() -> None:
    model = LegNet(LegNetSpec(blocks=(16, 8, 8)))
    grouped = model.blocks[0].inverted[3]
    assert isinstance(grouped, nn.Conv1d)
    assert grouped.weight.shape == (32, 2, 7) and grouped.groups == 16


def test_bilinear_is_homogeneous_of_degree_two() -> None:
    torch.manual_seed(0)
    layer = LowRankBilinear(6, 3, 6)
    y = torch.randn(4, 6)
    with torch.no_grad():
        base = layer(y) - layer.out.bias
        scaled = layer(2.5 * y) - layer.out.bias
    assert torch.allclose(scaled, 6.25 * base, atol=1e-5)


def test_squeeze_excite_scales_each_channel_by_a_gate_in_0_1() -> None:
    torch.manual_seed(0)
    se = SqueezeExcite(12, 4)
    x = torch.rand(2, 12, 30) + 0.5
    with torch.no_grad():
        ratio = se(x) / x
    assert torch.allclose(ratio, ratio[:, :, :1].expand_as(ratio), atol=1e-6)
    assert bool(((ratio > 0) & (ratio < 1)).all())


def test_bad_specs() -> None:
    with pytest.raises(ValueError, match="at least 2 block widths"):
        LegNet(LegNetSpec(blocks=(16,)))
    with pytest.raises(ValueError, match="se_reduction 4 must be ≥ 2"):
        LegNet(LegNetSpec(blocks=(4, 4)))
    with pytest.raises(ValueError, match="filters_per_group 3 must divide 32"):
        LegNet(LegNetSpec(blocks=(16, 8), filters_per_group=3))
    with pytest.raises(ValueError, match=r"\(batch, length, 4\)"):
        LegNet(LegNetSpec(blocks=(16, 8)))(torch.zeros(2, 4, 250))
