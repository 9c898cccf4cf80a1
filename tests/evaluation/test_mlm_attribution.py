"""SNP attribution of haplotype expression models: gradients, allele flips, rankings, files."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
import torch
from torch import Tensor, nn

from exprflow.evaluation.mlm_attribution import (
    allele_contrast_gradient,
    allele_flip_effects,
    gradient_x_input,
    rank_snps,
)
from exprflow.evaluation.mlm_attribution_report import (
    CAUSAL_RANKS_FILE,
    ENRICHMENT_FILE,
    GENE_PLOT_FILE,
    RANKINGS_FILE,
    RECOVERY_FILE,
    RECOVERY_PLOT_FILE,
    write_attribution,
)
from exprflow.evaluation.mlm_enrichment import planted_recovery

L, CAUSAL_POS = 12, 7


class LinearReadout(nn.Module):
    """f(x, gene) = sum(w * x) + bias[gene]: 2.0 on position 7's A channel, tiny noise else."""

    def __init__(self, squared: bool = False) -> None:
        super().__init__()
        noise = 0.01 * torch.randn(3, L, generator=torch.Generator().manual_seed(0))
        noise[1, CAUSAL_POS] = 2.0
        self.weight = nn.Parameter(noise)
        self.bias = nn.Parameter(torch.tensor([0.5, -1.0]))
        self.squared = squared
        self.train()

    def forward(self, x: Tensor, gene: Tensor) -> Tensor:
        out = (x * self.weight).sum(dim=(1, 2)) + self.bias[gene]
        return out**2 if self.squared else out

    def predict(self, x: Tensor, gene: Tensor) -> Tensor:
        return self(x, gene)


def _haplotypes(n: int = 6, seed: int = 1) -> tuple[Tensor, Tensor]:
    rng = np.random.default_rng(seed)
    tokens = rng.integers(0, 2, size=(n, L))
    tokens[0, 3] = 2  # an N
    x = torch.nn.functional.one_hot(torch.from_numpy(tokens), 3).permute(0, 2, 1).float()
    x[1, :, 5] = 0.0  # a masked position
    return x, torch.tensor([i % 2 for i in range(n)])


def _brute_force_flips(model: nn.Module, x: Tensor, gene: Tensor) -> np.ndarray:
    out = np.zeros((x.shape[0], L), dtype=np.float32)
    with torch.no_grad():
        for b in range(x.shape[0]):
            for j in range(L):
                ref, alt = x[b : b + 1].clone(), x[b : b + 1].clone()
                ref[0, :, j] = torch.tensor([1.0, 0.0, 0.0])
                alt[0, :, j] = torch.tensor([0.0, 1.0, 0.0])
                out[b, j] = (model(alt, gene[b : b + 1]) - model(ref, gene[b : b + 1])).item()
    return out


def test_linear_model_attributions_are_exact_and_rank_the_causal_position_first() -> None:
    model = LinearReadout()
    x, gene = _haplotypes()
    expected = (model.weight[1] - model.weight[0]).detach().numpy()
    flips = allele_flip_effects(model, x, gene, batch_size=5)
    contrast = allele_contrast_gradient(model.predict, x, gene, batch_size=4)
    assert flips.shape == contrast.shape == (6, L)
    np.testing.assert_allclose(flips, np.broadcast_to(expected, (6, L)), atol=1e-6)
    np.testing.assert_allclose(contrast, np.broadcast_to(expected, (6, L)), atol=1e-6)
    gxi = gradient_x_input(model, x, gene)
    np.testing.assert_allclose(gxi, (x * model.weight).sum(dim=1).detach().numpy(), atol=1e-6)
    assert gxi[1, 5] == 0.0  # masked position contributes nothing
    meta = pd.DataFrame({"chrom": "1", "pos": 1000 + np.arange(L), "id": "rs", "seq_idx": range(L)})
    for effects in (flips, contrast):
        assert rank_snps(effects, meta).loc[0, "seq_idx"] == CAUSAL_POS
    # gradient x input scores only carriers of A at 7, but still ranks it first
    assert rank_snps(gxi, meta).loc[0, "seq_idx"] == CAUSAL_POS


def test_flips_match_brute_force_on_a_nonlinear_model_and_any_batch_size() -> None:
    model = LinearReadout(squared=True)
    x, gene = _haplotypes()
    truth = _brute_force_flips(model, x, gene)
    for batch_size in (1, 7, 1000):
        np.testing.assert_allclose(
            allele_flip_effects(model, x, gene, batch_size=batch_size), truth, rtol=1e-5, atol=1e-6
        )
    subset = allele_flip_effects(model, x, gene, positions=[7, 3, 5])
    np.testing.assert_allclose(subset, truth[:, [7, 3, 5]], rtol=1e-5, atol=1e-6)
    contrast = allele_contrast_gradient(model, x, gene)
    assert not np.allclose(contrast, truth)  # first-order only on a nonlinear model
    assert (np.abs(truth).mean(axis=0).argmax(), np.abs(contrast).mean(axis=0).argmax()) == (7, 7)


def test_model_mode_is_restored_and_no_parameter_gradients_accumulate() -> None:
    model = LinearReadout()
    x, gene = _haplotypes()
    gradient_x_input(model, x, gene)
    allele_flip_effects(model, x, gene)
    assert model.training
    assert model.weight.grad is None
    model.eval()
    allele_contrast_gradient(model.predict, x, gene)
    assert not model.training


def test_attribution_rejects_bad_inputs() -> None:
    model = LinearReadout()
    x, gene = _haplotypes()
    with pytest.raises(ValueError, match=r"x must have shape \(B, 3, L\)"):
        gradient_x_input(model, x[:, :2], gene)
    with pytest.raises(ValueError, match="gene must have shape"):
        allele_flip_effects(model, x, gene[:3])
    with pytest.raises(ValueError, match="no haplotypes"):
        allele_flip_effects(model, x[:0], gene[:0])
    with pytest.raises(ValueError, match="positions must be"):
        allele_flip_effects(model, x, gene, positions=[L])
    with pytest.raises(ValueError, match="batch_size must be >= 1"):
        allele_contrast_gradient(model, x, gene, batch_size=0)
    with pytest.raises(ValueError, match=r"must return shape \(B,\)"):
        gradient_x_input(lambda x, g: x.sum(dim=1), x, gene)


def _meta(n: int, gene: str = "ENSG1.1") -> pd.DataFrame:
    order = np.random.default_rng(3).permutation(n)
    return pd.DataFrame(
        {
            "chrom": "1",
            "pos": 100 + 10 * order,
            "id": [f"rs{i}" for i in order],
            "ref": "A",
            "alt": "G",
            "GENE_ID": gene,
            "seq_idx": order,
        }
    )


def test_rank_snps_orders_by_mean_absolute_effect_and_maps_seq_idx() -> None:
    effects = np.array([[0.1, -3.0, 1.0, 0.0], [0.1, 1.0, -2.0, 0.0]])
    ranked = rank_snps(effects, _meta(4))
    assert list(ranked.columns) == [
        *("gene_id", "chrom", "pos", "id", "seq_idx", "score", "mean_effect", "rank")
    ]
    assert ranked["seq_idx"].tolist() == [1, 2, 0, 3]
    assert ranked["id"].tolist() == ["rs1", "rs2", "rs0", "rs3"]
    assert ranked["pos"].tolist() == [110, 120, 100, 130]
    np.testing.assert_allclose(ranked["score"], [2.0, 1.5, 0.1, 0.0])
    np.testing.assert_allclose(ranked["mean_effect"], [-1.0, -0.5, 0.1, 0.0])
    assert ranked["rank"].tolist() == [1, 2, 3, 4]
    assert set(ranked["gene_id"]) == {"ENSG1.1"}
    by_individual = rank_snps(effects, _meta(4), individuals=True)  # [0.2, -2, -1, 0]
    assert by_individual["seq_idx"].tolist() == [1, 2, 0, 3]
    np.testing.assert_allclose(by_individual["score"], [2.0, 1.0, 0.2, 0.0])
    tied = rank_snps(np.ones((1, 3)), _meta(3))
    assert tied["seq_idx"].tolist() == [0, 1, 2]  # ties keep sequence order


def test_rank_snps_rejects_bad_inputs() -> None:
    effects = np.zeros((3, 4))
    with pytest.raises(ValueError, match=r"effects must have shape \(S, L\) with L = 5"):
        rank_snps(effects, _meta(5))
    with pytest.raises(ValueError, match=r"meta lacks columns \['seq_idx'\]"):
        rank_snps(effects, _meta(4).drop(columns="seq_idx"))
    with pytest.raises(ValueError, match="seq_idx must cover"):
        rank_snps(effects, _meta(4).assign(seq_idx=[0, 1, 1, 2]))
    with pytest.raises(ValueError, match="even number of rows"):
        rank_snps(effects, _meta(4), individuals=True)


def test_write_attribution_writes_tables_and_plots(tmp_path) -> None:
    rankings = {g: rank_snps(np.arange(8.0)[None], _meta(8, g)) for g in ("ENSG1.1", "ENSG2.1")}
    causal = pd.DataFrame({"gene_id": ["ENSG2"], "chrom": ["chr1"], "pos": [170]})
    recovery = planted_recovery(rankings, causal, ks=(1, 2))
    enrichment = pd.DataFrame({"track": ["DNase"], "ratio": [2.0]})
    written = write_attribution(tmp_path / "out", rankings, recovery, enrichment)
    names = (RANKINGS_FILE, GENE_PLOT_FILE, RECOVERY_FILE, CAUSAL_RANKS_FILE)
    assert set(written) == {*names, RECOVERY_PLOT_FILE, ENRICHMENT_FILE}
    assert all(path.stat().st_size > 0 for path in written.values())
    table = pd.read_csv(written[RANKINGS_FILE])
    assert len(table) == 16 and table.columns[0] == "gene_id"
    assert pd.read_csv(written[CAUSAL_RANKS_FILE])["rank"].tolist() == [1.0]
    assert sorted(p.name for p in (tmp_path / "out").iterdir()) == sorted(written)
    only = write_attribution(tmp_path / "bare", rankings)
    assert set(only) == {RANKINGS_FILE, GENE_PLOT_FILE}
