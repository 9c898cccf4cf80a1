"""Rolling-mask embeddings of the haplotype MLM: batched equals the published sequential loop."""

from __future__ import annotations

from pathlib import Path

import h5py
import numpy as np
import pytest
import torch

from exprflow.embedding.mlm_embed import (
    HaplotypeEmbeddings,
    read_mlm_embeddings,
    rolling_embeddings,
    sequential_embeddings,
    write_mlm_embeddings,
)
from exprflow.errors import InputError
from exprflow.models.mlm.config import mlm_config
from exprflow.models.mlm.model import build_mlm
from exprflow.training.mlm_masking import one_hot


@pytest.fixture(scope="module")
def model() -> torch.nn.Module:
    torch.manual_seed(0)
    return build_mlm(mlm_config("tiny", 3)).eval()


def _tokens(n: int, length: int, seed: int = 0) -> np.ndarray:
    rng = np.random.default_rng(seed)
    return rng.choice(3, size=(n, length), p=[0.6, 0.35, 0.05]).astype(np.uint8)


def test_batched_equals_sequential(model: torch.nn.Module) -> None:
    tokens, gene = _tokens(5, 37), np.array([0, 1, 2, 0, 1])
    for batch_size in (1, 7, 1000):
        batched = rolling_embeddings(model, tokens, gene, stride=4, batch_size=batch_size)
        published = sequential_embeddings(model, tokens, gene, stride=4)
        np.testing.assert_allclose(batched.vectors, published.vectors, atol=1e-5)
        np.testing.assert_allclose(batched.logprobs, published.logprobs, atol=1e-5)


def test_vectors_pool_each_snp_masked_once(model: torch.nn.Module) -> None:
    """By hand: mask one SNP at a time with stride = L and average the masked vectors."""
    tokens, gene = _tokens(2, 9, seed=1), np.array([2, 0])
    got = rolling_embeddings(model, tokens, gene, stride=3)
    for h in range(2):
        x = torch.from_numpy(one_hot(tokens[h]))
        vectors, logp = [], []
        for start in range(3):
            masked = x.clone()
            masked[:, start::3] = 0
            logits, emb = model(masked[None], torch.tensor([int(gene[h])]))
            for j in range(start, 9, 3):
                vectors.append(emb[0, :, j])
                logp.append(torch.log_softmax(logits[0, :, j], 0)[int(tokens[h, j])])
        order = [j for s in range(3) for j in range(s, 9, 3)]
        expected_logp = torch.stack(logp).detach().numpy()[np.argsort(order)]
        np.testing.assert_allclose(got.vectors[h], torch.stack(vectors).mean(0).detach(), atol=1e-5)
        np.testing.assert_allclose(got.logprobs[h], expected_logp, atol=1e-5)


def test_stride_longer_than_sequence(model: torch.nn.Module) -> None:
    tokens = _tokens(1, 3)
    short = rolling_embeddings(model, tokens, np.array([0]), stride=50)
    exact = rolling_embeddings(model, tokens, np.array([0]), stride=3)
    np.testing.assert_allclose(short.vectors, exact.vectors, atol=1e-6)


def test_refuses_training_mode_and_bad_shapes(model: torch.nn.Module) -> None:
    model.train()
    try:
        with pytest.raises(ValueError, match="eval mode"):
            rolling_embeddings(model, _tokens(1, 5), np.array([0]))
    finally:
        model.eval()
    with pytest.raises(ValueError, match=r"\(H, L\)"):
        rolling_embeddings(model, _tokens(2, 5), np.array([0]))
    with pytest.raises(ValueError, match="stride"):
        rolling_embeddings(model, _tokens(1, 5), np.array([0]), stride=0)


def test_write_read_round_trip(tmp_path: Path) -> None:
    rng = np.random.default_rng(2)
    per_gene = {
        "G1": HaplotypeEmbeddings(
            rng.normal(size=(4, 8)).astype(np.float32), rng.normal(size=(4, 6))
        ),
        "G2": HaplotypeEmbeddings(
            rng.normal(size=(4, 8)).astype(np.float32), rng.normal(size=(4, 3))
        ),
    }
    path = write_mlm_embeddings(tmp_path / "e.h5", ["S1", "S2"], per_gene, stride=50)
    samples, genes = read_mlm_embeddings(path)
    assert samples == ["S1", "S2"]
    assert list(genes) == ["G1", "G2"]
    np.testing.assert_allclose(genes["G1"].vectors[1, 0], per_gene["G1"].vectors[2])
    np.testing.assert_allclose(genes["G2"].logprobs[0, 1], per_gene["G2"].logprobs[1], rtol=1e-6)
    with h5py.File(path) as h5:
        assert h5.attrs["stride"] == 50
        assert h5["genes/G1/embeddings"].shape == (2, 2, 8)


def test_write_refuses_wrong_haplotype_count(tmp_path: Path) -> None:
    bad = {"G1": HaplotypeEmbeddings(np.zeros((3, 4), np.float32), np.zeros((3, 2)))}
    with pytest.raises(ValueError, match="3 haplotypes for 2 samples"):
        write_mlm_embeddings(tmp_path / "e.h5", ["S1", "S2"], bad, stride=5)
    assert not (tmp_path / "e.h5").exists()


def test_read_refuses_other_files(tmp_path: Path) -> None:
    with h5py.File(tmp_path / "other.h5", "w") as h5:
        h5["x"] = [1]
    with pytest.raises(InputError, match="layout_version"):
        read_mlm_embeddings(tmp_path / "other.h5")
    (tmp_path / "text.h5").write_text("not hdf5")
    with pytest.raises(InputError, match="HDF5"):
        read_mlm_embeddings(tmp_path / "text.h5")
