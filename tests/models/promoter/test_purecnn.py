from __future__ import annotations

import pytest
import torch
from torch import nn

from exprflow.models.promoter.config import PureCNNSpec, backbone_spec
from exprflow.models.promoter.purecnn import PureCNN, flattened_length


def _onehot(batch: int, length: int) -> torch.Tensor:
    codes = torch.randint(0, 4, (batch, length), generator=torch.Generator().manual_seed(0))
    return nn.functional.one_hot(codes, 4).float()


def _block(i: int, o: int) -> int:
    return i * o * 5 + o + 2 * o  # conv k5 with bias + BatchNorm


def test_flattened_lengths_at_250_bp() -> None:
    assert flattened_length(PureCNNSpec(), 250) == 9
    large = backbone_spec("PureCNNLarge")
    assert isinstance(large, PureCNNSpec)
    assert flattened_length(large, 250) == 3
    assert flattened_length(PureCNNSpec(), 300) == 11
    assert flattened_length(PureCNNSpec(), 20) == 0


def test_published_parameter_counts_by_hand() -> None:
    cnn = _block(4, 512) + _block(512, 768) + _block(768, 768) + _block(768, 1024)
    dense = 9 * 1024 * 2048 + 2048 + 2048 * 1024 + 1024
    large_cnn = cnn + 2 * _block(1024, 1024)
    large_dense = 3 * 1024 * 2048 + 2048 + 2048 * 1024 + 1024
    with torch.device("meta"):
        small = PureCNN(PureCNNSpec())
        large_spec = backbone_spec("PureCNNLarge")
        assert isinstance(large_spec, PureCNNSpec)
        large = PureCNN(large_spec)
    assert sum(p.numel() for p in small.parameters()) == cnn + dense == 29_841_408
    assert sum(p.numel() for p in large.parameters()) == large_cnn + large_dense == 27_750_400
    assert small.out_dim == large.out_dim == 1024
    assert isinstance(small.cnn[0].norm, nn.BatchNorm1d)


@pytest.mark.parametrize("name", ["PureCNN", "PureCNNLarge"])
def test_tiny_shapes(name: str) -> None:
    spec = backbone_spec(name, "tiny")
    assert isinstance(spec, PureCNNSpec)
    model = PureCNN(spec).eval()
    with torch.no_grad():
        assert model(_onehot(4, 250)).shape == (4, 32)
    assert model.fixed_length == 250 and model.probe_frozen == ("cnn.", "fc.")


def test_wrong_length_names_both_lengths() -> None:
    spec = backbone_spec("PureCNN", "tiny")
    assert isinstance(spec, PureCNNSpec)
    model = PureCNN(spec)
    with pytest.raises(ValueError, match=r"built for 250 bp sequences .* got 245 bp"):
        model(_onehot(2, 245))
    other = PureCNN(spec, seq_length=300).eval()
    assert other(_onehot(2, 300)).shape == (2, 32)


def test_too_short_seq_length_refused() -> None:
    with pytest.raises(ValueError, match="cannot read 20 bp"):
        PureCNN(PureCNNSpec(), seq_length=20)
