from __future__ import annotations

import copy

import pytest
import torch
from torch import nn

from exprflow.models.probes.transformer_head import (
    TransformerHead,
    TransformerHeadConfig,
)

TINY = TransformerHeadConfig.tiny(tracks=5)


@pytest.fixture
def head() -> TransformerHead:
    torch.manual_seed(0)
    return TransformerHead(TINY).eval()


@pytest.fixture
def x() -> torch.Tensor:
    return torch.randn(3, 64, 16, generator=torch.Generator().manual_seed(1))


def _with_published_bug(head: TransformerHead) -> TransformerHead:
    """The same weights with the published attention: no batch_first, so over the batch."""
    bugged = copy.deepcopy(head)
    attention = nn.MultiheadAttention(TINY.channels, TINY.heads, dropout=TINY.dropout)
    attention.load_state_dict(head.attention.state_dict())
    bugged.attention = attention.eval()
    return bugged


def _reach_of_one_bin(head: TransformerHead, x: torch.Tensor) -> tuple[bool, bool, bool]:
    """Change bin 0 of sample 0: does that change (sample 0, other bins of sample 0, others)?"""
    changed = x.clone()
    changed[0, :, 0] += 3.0
    with torch.no_grad():
        before, after = head.bin_outputs(x), head.bin_outputs(changed)
    differs = lambda a, b: not torch.allclose(a, b, rtol=0, atol=1e-5)  # noqa: E731
    return (
        differs(before[0].mean(-1), after[0].mean(-1)),
        differs(before[0, :, 1:], after[0, :, 1:]),
        differs(before[1:], after[1:]),
    )


def test_tiny_shapes(head: TransformerHead, x: torch.Tensor) -> None:
    with torch.no_grad():
        assert head(x).shape == (3, 5)
        assert head.bin_outputs(x).shape == (3, 5, 16)
        assert head(torch.randn(2, 64, 896)).shape == (2, 5)
        torch.testing.assert_close(head(x), head.bin_outputs(x).mean(-1))


def test_published_parameter_count() -> None:
    with torch.device("meta"):
        published = TransformerHead(TransformerHeadConfig())
    n = sum(p.numel() for p in published.parameters())
    c, t = 1536, 18
    attention = 3 * c * c + 3 * c + c * c + c
    norms = 2 * 2 * c
    feed_forward = c * 2 * c + 2 * c + 2 * c * c + c
    assert n == attention + norms + feed_forward + c * t + t == 18_918_930  # 18.9 M
    assert published.attention.batch_first


def test_attention_runs_over_bins_not_batch(head: TransformerHead, x: torch.Tensor) -> None:
    # sample 0 moves, its other bins move (attention across bins), other samples do not
    assert _reach_of_one_bin(head, x) == (True, True, False)


def test_the_published_bug_would_fail_that_test(head: TransformerHead, x: torch.Tensor) -> None:
    # attending across the batch: other samples move, the sample's other bins do not
    assert _reach_of_one_bin(_with_published_bug(head), x) == (True, False, True)


def test_outputs_do_not_depend_on_batch_mates(head: TransformerHead, x: torch.Tensor) -> None:
    order = torch.tensor([2, 0, 1])
    with torch.no_grad():
        batched = head(x)
        torch.testing.assert_close(head(x[order]), batched[order])
        alone = torch.cat([head(x[i : i + 1]) for i in range(3)])
        torch.testing.assert_close(alone, batched)
        bugged = _with_published_bug(head)
        bugged_alone = torch.cat([bugged(x[i : i + 1]) for i in range(3)])
    assert not torch.allclose(bugged_alone, bugged(x), atol=1e-5)


def test_dropout_is_active_in_training_only(head: TransformerHead, x: torch.Tensor) -> None:
    with torch.no_grad():
        torch.testing.assert_close(head(x), head(x))
        head.train()
        torch.manual_seed(0)
        first = head(x)
        second = head(x)
    assert not torch.allclose(first, second)


def test_wrong_channels_are_refused(head: TransformerHead) -> None:
    with pytest.raises(ValueError, match=r"\(batch, 64, bins\).*\(2, 16, 64\)"):
        head(torch.zeros(2, 16, 64))
