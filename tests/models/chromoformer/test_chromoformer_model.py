from __future__ import annotations

import math
import time
from dataclasses import replace

import pytest
import torch
from tests.models.chromoformer._reference import make_batch, reference_forward

from exprflow.models.chromoformer.config import ChromoformerConfig
from exprflow.models.chromoformer.model import (
    Chromoformer,
    interaction_bias,
    interaction_blocked,
    pcre_bins,
    sinusoidal_encoding,
)

TINY = ChromoformerConfig.tiny()


def _perturbed(config: ChromoformerConfig, seed: int = 1) -> Chromoformer:
    """A model whose every parameter (gamma_f, LayerNorms included) is off its init."""
    torch.manual_seed(seed)
    model = Chromoformer(config).eval()
    with torch.no_grad():
        for param in model.parameters():
            param.add_(torch.randn_like(param) * 0.2)
    return model


@pytest.mark.parametrize("task", ["classification", "regression"])
def test_tiny_output_shape_and_speed(task: str) -> None:
    model = Chromoformer(ChromoformerConfig.tiny(n_feats=3, task=task)).eval()
    batch = make_batch(model.config, [0, 2, 8, 5])
    with torch.no_grad():
        model(batch)
        start = time.perf_counter()
        out = model(batch)
        seconds = time.perf_counter() - start
    assert out.shape == (4, 2 if task == "classification" else 1)
    assert torch.isfinite(out).all()
    assert seconds < 1.0


@pytest.mark.parametrize("task", ["classification", "regression"])
def test_published_output_shape(task: str) -> None:
    model = Chromoformer(ChromoformerConfig.published(task=task)).eval()
    with torch.no_grad():
        out = model(make_batch(model.config, [1, 8]))
    assert out.shape == (2, 2 if task == "classification" else 1)


@pytest.mark.parametrize(
    "config",
    [TINY, ChromoformerConfig.tiny(n_feats=2, task="regression"), ChromoformerConfig.published()],
    ids=["tiny-clf", "tiny-reg-2marks", "published"],
)
def test_matches_the_published_computation(config: ChromoformerConfig) -> None:
    # the reference computes every bin with published-style masks (True = blocked, -1e9)
    model = _perturbed(config)
    batch = make_batch(config, [0, 3, 8], lengths=[1, 40_000, 1999])
    with torch.no_grad():
        out = model(batch)
        ref = reference_forward(model.state_dict(), config, batch)
    torch.testing.assert_close(out, ref, rtol=1e-5, atol=1e-4)


def test_gradients_match_the_published_computation() -> None:
    model = _perturbed(ChromoformerConfig.tiny(n_feats=2, task="regression"))
    batch = make_batch(model.config, [0, 2, 8], lengths=[700, 40_000])
    params = dict(model.named_parameters())
    (model(batch) ** 2).sum().backward()
    ours = {k: p.grad.clone() for k, p in params.items() if p.grad is not None}
    model.zero_grad()
    (reference_forward(params, model.config, batch) ** 2).sum().backward()
    assert ours.keys() == {k for k, p in params.items() if p.grad is not None}
    for key, grad in ours.items():
        torch.testing.assert_close(grad, params[key].grad, rtol=1e-4, atol=1e-5, msg=key)


def test_pcre_bins_centre_the_pcre_like_bin_and_pad() -> None:
    lengths = torch.tensor([[1000, 1, 40_000, 0, 101]])
    valid = pcre_bins(lengths, 100, 400)
    assert valid.shape == (1, 5, 400)
    assert torch.equal(valid[0, 0].nonzero().flatten(), torch.arange(195, 205))
    assert valid[0, 1].nonzero().flatten().tolist() == [200]  # left pad ceil(399 / 2)
    assert bool(valid[0, 2].all())
    assert not bool(valid[0, 3].any())
    assert valid[0, 4].nonzero().flatten().tolist() == [199, 200]  # 2 bins, left ceil(398/2)
    coarse = pcre_bins(torch.tensor([[3000]]), 2000, 20)
    assert coarse[0, 0].nonzero().flatten().tolist() == [9, 10]


def test_interaction_mask_and_bias() -> None:
    present = torch.tensor([[True, True, False], [False, False, False]])
    blocked = interaction_blocked(present)
    assert blocked.shape == (2, 1, 4, 4)
    open_first = torch.zeros(4, 4, dtype=torch.bool)
    open_first[:3, :3] = True
    assert torch.equal(~blocked[0, 0], open_first)
    assert (~blocked[1, 0]).nonzero().tolist() == [[0, 0]]
    bias = interaction_bias(torch.tensor([[1.6, 2.0, 9.0], [1.7, 0.0, 0.0]]), present)
    assert bias[0, 0].tolist() == pytest.approx([0.0, 1.6, 2.0, 0.0])
    assert bias[1].abs().sum() == 0
    assert bias[0, 1:].abs().sum() == 0


def test_sinusoidal_encoding_values() -> None:
    table = sinusoidal_encoding(5, 4)
    assert table[0].tolist() == [0.0, 1.0, 0.0, 1.0]
    assert table[3, 0].item() == pytest.approx(math.sin(3))
    assert table[3, 1].item() == pytest.approx(math.cos(3))
    assert table[3, 2].item() == pytest.approx(math.sin(3 / 100))
    assert table[3, 3].item() == pytest.approx(math.cos(3 / 100))
    with pytest.raises(ValueError, match="even"):
        sinusoidal_encoding(5, 3)


def test_padding_does_not_change_the_output() -> None:
    model = _perturbed(TINY)
    batch = make_batch(TINY, [3, 0], lengths=[1500, 250, 40_000])
    changed = {k: v.clone() for k, v in batch.items()}
    for r in TINY.resolutions:
        valid = pcre_bins(batch["pcre_length"], r, TINY.n_bins(r))
        noise = torch.rand_like(batch[f"pcre_{r}"]) * 50
        changed[f"pcre_{r}"] = torch.where(valid[..., None], batch[f"pcre_{r}"], noise)
    changed["pcre_score"] = torch.where(batch["pcre_length"] > 0, batch["pcre_score"], 7.0)
    with torch.no_grad():
        torch.testing.assert_close(model(changed), model(batch), rtol=0, atol=1e-6)
        # the signal itself does matter
        changed["pcre_500"][0, 0] += 1.0
        assert not torch.allclose(model(changed)[0], model(batch)[0])


def test_gene_without_pcres_is_finite_and_trains() -> None:
    model = Chromoformer(TINY)
    batch = make_batch(TINY, [0, 0])
    out = model(batch)
    assert torch.isfinite(out).all()
    out.sum().backward()
    assert all(torch.isfinite(p.grad).all() for p in model.parameters() if p.grad is not None)


def test_batch_independence_in_eval_mode() -> None:
    model = _perturbed(TINY)
    batch = make_batch(TINY, [8, 0, 3, 5], seed=3)
    with torch.no_grad():
        whole = model(batch)
        for i in range(4):
            one = model({k: v[i : i + 1] for k, v in batch.items()})
            torch.testing.assert_close(one[0], whole[i], rtol=1e-5, atol=1e-6)


def test_dropout_is_active_only_in_training() -> None:
    config = replace(TINY, dropout=0.5)
    model = Chromoformer(config)
    batch = make_batch(config, [4, 2])
    model.train()
    assert not torch.equal(model(batch), model(batch))
    model.eval()
    with torch.no_grad():
        assert torch.equal(model(batch), model(batch))


def test_float64_buffers_follow_the_model() -> None:
    model = _perturbed(TINY)
    batch = make_batch(TINY, [2, 7])
    with torch.no_grad():
        single = model(batch)
        double = model.double()(
            {k: v.double() if v.is_floating_point() else v for k, v in batch.items()}
        )
    assert double.dtype == torch.float64
    torch.testing.assert_close(double.float(), single, rtol=1e-4, atol=1e-5)


@pytest.mark.parametrize(
    ("edit", "message"),
    [
        (lambda b: b.pop("pcre_100"), r"batch lacks \['pcre_100'\]"),
        (lambda b: b.update(promoter_500=b["promoter_500"][:, :40]), r"promoter_500.*\(2, 80, 7\)"),
        (lambda b: b.update(pcre_score=b["pcre_score"][:, :4]), r"pcre_score.*\(2, 8\)"),
        (lambda b: b["pcre_length"].__setitem__((0, 0), 40_001), r"\[0, 40000\] bp"),
    ],
    ids=["missing-key", "wrong-bins", "wrong-slots", "too-long"],
)
def test_bad_batches_are_refused(edit, message: str) -> None:  # type: ignore[no-untyped-def]
    model = Chromoformer(TINY)
    batch = make_batch(TINY, [1, 2])
    edit(batch)
    with pytest.raises(ValueError, match=message):
        model(batch)


def test_tiny_model_overfits_a_few_genes() -> None:
    torch.manual_seed(0)
    # two resolutions keep it ~1 s; the 100 bp branch is the same code with more bins
    config = replace(ChromoformerConfig.tiny(n_feats=2, task="regression"), resolutions=(2000, 500))
    model = Chromoformer(config).train()
    batch = make_batch(config, [0, 1, 3, 8, 2, 5], seed=5)
    target = torch.tensor([0.0, 1.0, 2.0, 3.0, 4.0, 5.0])
    optimizer = torch.optim.Adam(model.parameters(), lr=2e-2)
    losses = []
    for _ in range(25):
        optimizer.zero_grad()
        loss = torch.nn.functional.mse_loss(model(batch)[:, 0], target)
        loss.backward()
        optimizer.step()
        losses.append(loss.item())
    assert losses[-1] < 0.05 * losses[0]
