from __future__ import annotations

import pytest
import torch
from torch import nn

from exprflow.models.promoter.config import MTLuciferSpec, backbone_spec
from exprflow.models.promoter.mtlucifer import ConvBlock, MTLucifer

TINY = backbone_spec("MTLucifer", "tiny")


def _conv(i: int, o: int, k: int) -> int:
    return i * o * k + o


def _linear(i: int, o: int) -> int:
    return i * o + o


def _onehot(batch: int, length: int, seed: int = 0) -> torch.Tensor:
    gen = torch.Generator().manual_seed(seed)
    codes = torch.randint(0, 4, (batch, length), generator=gen)
    return nn.functional.one_hot(codes, 4).float()


def test_published_parameter_count_by_hand() -> None:
    cnn = sum(_conv(i, o, 5) + 2 * o for i, o in [(4, 256), (256, 512), (512, 768)])
    attention = 3 * 768 * 768 + 3 * 768 + _linear(768, 768)
    feed_forward = _linear(768, 2048) + _linear(2048, 768)
    layer = attention + feed_forward + 2 * 2 * 768
    expected = cnn + 768 + 5 * layer
    assert expected == 30_201_856
    with torch.device("meta"):
        for norm in ("group", "batch"):
            model = MTLucifer(MTLuciferSpec(norm=norm))
            assert sum(p.numel() for p in model.parameters()) == expected


def test_published_default_is_groupnorm_and_outputs_cls_vector() -> None:
    torch.manual_seed(0)
    model = MTLucifer().eval()
    norms = [block.norm for block in model.cnn]
    assert all(isinstance(n, nn.GroupNorm) and n.num_groups == n.num_channels for n in norms)
    layer = model.transformer[0]
    assert isinstance(layer, nn.TransformerEncoderLayer)
    assert not layer.norm_first and layer.self_attn.num_heads == 8
    assert layer.linear1.out_features == 2048 and layer.self_attn.batch_first
    with torch.no_grad():
        assert model(_onehot(2, 250)).shape == (2, 768)


def test_batchnorm_variant() -> None:
    model = MTLucifer(MTLuciferSpec(channels=(8, 16, 32), layers=1, heads=2, ff=16, norm="batch"))
    assert all(isinstance(block.norm, nn.BatchNorm1d) for block in model.cnn)
    assert model(_onehot(3, 250)).shape == (3, 32)


@pytest.mark.parametrize("length", [145, 250, 600])
def test_tiny_any_length(length: int) -> None:
    model = MTLucifer(TINY).eval()
    with torch.no_grad():
        assert model(_onehot(4, length)).shape == (4, 32)
        assert model.cnn(_onehot(4, length).permute(0, 2, 1)).shape == (4, 32, length - 6)


def test_cnn_shortens_250_to_244_and_block_order() -> None:
    block = ConvBlock(4, 8, 5, 1, 0.0, "batch").eval()
    x = _onehot(2, 250).permute(0, 2, 1)
    with torch.no_grad():
        out = block(x)
        expected = block.norm(torch.relu(block.conv(x)))
    assert out.shape == (2, 8, 248)
    assert torch.equal(out, expected)


def test_cls_token_is_a_trainable_vector_and_output_is_its_position() -> None:
    torch.manual_seed(1)
    model = MTLucifer(TINY).eval()
    assert model.cls_token.shape == (32,) and model.cls_token.requires_grad
    x = _onehot(2, 250)
    with torch.no_grad():
        tokens = model.cnn(x.permute(0, 2, 1)).permute(0, 2, 1)
        seq = torch.cat([model.cls_token.expand(2, 1, -1), tokens], dim=1)
        assert torch.allclose(model(x), model.transformer(seq)[:, 0], atol=1e-6)
    assert model.probe_frozen == ("cnn.", "transformer.")
    assert model.input_kind == "onehot" and model.fixed_length is None


def test_eval_output_does_not_depend_on_the_batch() -> None:
    torch.manual_seed(2)
    model = MTLucifer(TINY).eval()
    x = _onehot(5, 250, seed=3)
    with torch.no_grad():
        assert torch.allclose(model(x)[1:2], model(x[1:2]), atol=1e-5)


def test_bad_inputs() -> None:
    model = MTLucifer(TINY)
    with pytest.raises(ValueError, match=r"at least 7 bp, got 6 bp"):
        model(_onehot(1, 6))
    with pytest.raises(ValueError, match=r"\(batch, length, 4\), got \(2, 250, 5\)"):
        model(torch.zeros(2, 250, 5))
    with pytest.raises(ValueError, match="heads"):
        MTLucifer(MTLuciferSpec(channels=(8, 10), heads=4))
