from __future__ import annotations

import itertools

import pytest
import torch

from exprflow.models.promoter.config import MotifFCNSpec, backbone_spec
from exprflow.models.promoter.motif_fcn import MotifBasedFCN


def _mlp(widths: list[int]) -> int:
    return sum(a * b + b for a, b in itertools.pairwise(widths))


@pytest.mark.parametrize(
    ("name", "widths", "expected"),
    [
        ("MotifBasedFCN", [762, 2048, 1024, 1024, 512], 5_235_200),
        ("MotifBasedFCNLarge", [762, 2048, 4096, 4096, 2048, 1024, 1024], 38_275_072),
    ],
)
def test_published_parameter_counts(name: str, widths: list[int], expected: int) -> None:
    spec = backbone_spec(name)
    assert isinstance(spec, MotifFCNSpec)
    with torch.device("meta"):
        model = MotifBasedFCN(762, spec)
    assert _mlp(widths) == expected
    assert sum(p.numel() for p in model.parameters()) == expected
    assert model.out_dim == widths[-1] and model.input_kind == "motif_counts"


@pytest.mark.parametrize("name", ["MotifBasedFCN", "MotifBasedFCNLarge"])
def test_tiny_shapes(name: str) -> None:
    spec = backbone_spec(name, "tiny")
    assert isinstance(spec, MotifFCNSpec)
    model = MotifBasedFCN(16, spec)
    assert model(torch.rand(5, 16)).shape == (5, 16)
    assert model.probe_frozen == ("mlp.",) and model.fixed_length is None


def test_relu_mlp_without_output_activation() -> None:
    torch.manual_seed(0)
    model = MotifBasedFCN(3, MotifFCNSpec(hidden=(4,), out_dim=2))
    x = torch.rand(2, 3)
    first, last = model.mlp[0], model.mlp[2]
    expected = last(torch.relu(first(x)))
    assert torch.equal(model(x), expected)


def test_bad_inputs() -> None:
    with pytest.raises(ValueError, match="n_motifs > 0, got 0"):
        MotifBasedFCN(0)
    model = MotifBasedFCN(16, MotifFCNSpec(hidden=(8,), out_dim=4))
    with pytest.raises(ValueError, match=r"\(batch, 16\), got \(2, 15\)"):
        model(torch.rand(2, 15))
