"""Tests of the haplotype MLM: shapes, input checks, global receptive field, gene
embedding, batch independence in eval mode, published parameter count."""

from __future__ import annotations

import pytest
import torch

from exprflow.models.mlm.config import mlm_config
from exprflow.models.mlm.model import HaplotypeMLM, MlmOutput, build_mlm, count_parameters


def _one_hot(tokens: torch.Tensor) -> torch.Tensor:
    return torch.nn.functional.one_hot(tokens, 3).transpose(-1, -2).float()


def _tiny(n_genes: int = 3, seed: int = 0) -> HaplotypeMLM:
    torch.manual_seed(seed)
    return build_mlm(mlm_config("tiny", n_genes)).eval()


def _inputs(batch: int, length: int, seed: int = 0) -> tuple[torch.Tensor, torch.Tensor]:
    gen = torch.Generator().manual_seed(seed)
    x = _one_hot(torch.randint(0, 2, (batch, length), generator=gen))
    return x, torch.randint(0, 3, (batch,), generator=gen)


@pytest.mark.parametrize("length", [1, 37, 200])
def test_output_shapes(length: int) -> None:
    model = _tiny()
    x, gene = _inputs(2, length)
    out = model(x, gene)
    assert isinstance(out, MlmOutput)
    logits, embeddings = out
    assert logits.shape == (2, 3, length)
    assert embeddings.shape == (2, 32, length)
    assert torch.isfinite(logits).all() and torch.isfinite(embeddings).all()


def test_training_step_reaches_every_parameter() -> None:
    model = _tiny().train()
    x, gene = _inputs(4, 50)
    labels = torch.full((4, 50), -100)
    labels[:, 10:20] = 1
    logits, _ = model(x, gene)
    torch.nn.functional.cross_entropy(logits, labels).backward()
    for name, param in model.named_parameters():
        assert param.grad is not None and torch.isfinite(param.grad).all(), name


def test_masking_one_position_changes_distant_outputs() -> None:
    model = _tiny()
    x, gene = _inputs(1, 400)
    base = model(x, gene).embeddings
    for j, far in ((0, slice(350, 400)), (399, slice(0, 50))):
        masked = x.clone()
        masked[:, :, j] = 0.0  # the mask token
        delta = (model(masked, gene).embeddings - base)[..., far].abs()
        # Every distant position moves: the receptive field is the whole sequence, both ways.
        assert delta.amax(dim=1).min() > 1e-6, j


def test_gene_embedding_changes_output() -> None:
    model = _tiny()
    x, _ = _inputs(1, 60)
    first = model(x, torch.tensor([0])).embeddings
    second = model(x, torch.tensor([1])).embeddings
    assert (first - second).abs().max() > 1e-3


def test_eval_mode_is_batch_independent() -> None:
    model = _tiny()
    with torch.no_grad():  # running statistics away from their 0/1 initial values
        for name, buffer in model.named_buffers():
            if name.endswith("running_mean"):
                buffer.uniform_(-0.5, 0.5)
            elif name.endswith("running_var"):
                buffer.uniform_(0.5, 2.0)
    x, gene = _inputs(6, 120, seed=3)
    with torch.no_grad():
        batched = model(x, gene)
        for i in range(6):
            alone = model(x[i : i + 1], gene[i : i + 1])
            torch.testing.assert_close(
                alone.embeddings, batched.embeddings[i : i + 1], atol=1e-5, rtol=0
            )
            torch.testing.assert_close(alone.logits, batched.logits[i : i + 1], atol=1e-5, rtol=0)


def test_same_seed_same_model() -> None:
    x, gene = _inputs(2, 30)
    torch.testing.assert_close(_tiny(seed=4)(x, gene).logits, _tiny(seed=4)(x, gene).logits)


def test_published_parameter_count() -> None:
    count = count_parameters(build_mlm(mlm_config("published", 10)))
    assert 5_000_000 < count < 7_000_000, count
    assert count == 5_691_139  # with 10 genes; each further gene adds 256


@pytest.mark.parametrize(
    ("x", "gene", "message"),
    [
        (torch.zeros(2, 4, 10), torch.zeros(2, dtype=torch.long), r"x must be float \(batch, 3"),
        (torch.zeros(2, 3, 10, dtype=torch.long), torch.zeros(2, dtype=torch.long), "x must be"),
        (torch.zeros(3, 10), torch.zeros(3, dtype=torch.long), "got torch.float32 \\(3, 10\\)"),
        (torch.zeros(2, 3, 0), torch.zeros(2, dtype=torch.long), "length ≥ 1"),
        (torch.zeros(2, 3, 10), torch.zeros(3, dtype=torch.long), r"shape \(2,\), got"),
        (torch.zeros(2, 3, 10), torch.zeros(2), "gene must be an integer tensor"),
        (torch.zeros(2, 3, 10), torch.tensor([0, 3]), r"in \[0, 3\), got min 0, max 3"),
        (torch.zeros(2, 3, 10), torch.tensor([-1, 0]), "got min -1"),
    ],
)
def test_bad_inputs(x: torch.Tensor, gene: torch.Tensor, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        _tiny()(x, gene)
