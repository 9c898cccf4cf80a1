from __future__ import annotations

import time

import pytest
import torch
from torch import nn

from exprflow.models.promoter import (
    BACKBONES,
    MLPHead,
    PromoterBackbone,
    PromoterModel,
    build_backbone,
    build_head,
)

N_MOTIFS = 12
TINY_OUT = {
    "MTLucifer": 32,
    "LegNet": 8,
    "LegNetLarge": 12,
    "PureCNN": 32,
    "PureCNNLarge": 32,
    "MotifBasedFCN": 16,
    "MotifBasedFCNLarge": 16,
}


def _input(backbone: PromoterBackbone, batch: int, length: int = 250) -> torch.Tensor:
    gen = torch.Generator().manual_seed(0)
    if backbone.input_kind == "motif_counts":
        return torch.randint(0, 4, (batch, N_MOTIFS), generator=gen).float()
    codes = torch.randint(0, 4, (batch, length), generator=gen)
    return nn.functional.one_hot(codes, 4).float()


def _tiny(name: str) -> PromoterBackbone:
    torch.manual_seed(0)
    return build_backbone(name, "tiny", n_motifs=N_MOTIFS if name.startswith("Motif") else 0)


@pytest.mark.parametrize("name", BACKBONES)
def test_tiny_backbones_are_small_fast_and_shaped(name: str) -> None:
    backbone = _tiny(name).eval()
    assert sum(p.numel() for p in backbone.parameters()) <= 100_000
    assert backbone.out_dim == TINY_OUT[name]
    x = _input(backbone, 96)
    with torch.no_grad():
        out = backbone(x)
        best = min(_timed(backbone, x) for _ in range(3))
    assert out.shape == (96, TINY_OUT[name]) and out.dtype == torch.float32
    assert best < 1.0, f"{name} tiny forward of 96 × 250 bp took {best:.3f} s"  # loose: shared CI


SMALL_OUT = {
    "MTLucifer": 128,
    "LegNet": 32,
    "LegNetLarge": 32,
    "PureCNN": 128,
    "PureCNNLarge": 128,
    "MotifBasedFCN": 64,
    "MotifBasedFCNLarge": 64,
}


@pytest.mark.parametrize("name", BACKBONES)
def test_small_backbones_sit_between_tiny_and_published(name: str) -> None:
    kwargs = {"n_motifs": N_MOTIFS} if name.startswith("Motif") else {}
    with torch.device("meta"):
        sizes = {
            size: sum(p.numel() for p in build_backbone(name, size, **kwargs).parameters())
            for size in ("tiny", "small", "published")
        }
    assert sizes["tiny"] < sizes["small"] <= 600_000 < sizes["published"]
    small = build_backbone(name, "small", **kwargs).eval()
    with torch.no_grad():
        assert small(_input(small, 4)).shape == (4, SMALL_OUT[name])


def _timed(backbone: nn.Module, x: torch.Tensor) -> float:
    start = time.perf_counter()
    backbone(x)
    return time.perf_counter() - start


@pytest.mark.parametrize("name", BACKBONES)
def test_probe_frozen_covers_the_backbone_except_the_cls_token(name: str) -> None:
    backbone = _tiny(name)
    trainable = [n for n, _ in backbone.named_parameters() if not backbone.is_probe_frozen(n)]
    assert trainable == (["cls_token"] if name == "MTLucifer" else [])


def test_build_backbone_errors() -> None:
    with pytest.raises(ValueError, match="backbone must be one of"):
        build_backbone("DNABERT")
    with pytest.raises(ValueError, match="size must be one of"):
        build_backbone("LegNet", "huge")
    with pytest.raises(ValueError, match="n_motifs > 0"):
        build_backbone("MotifBasedFCN", "tiny")
    with pytest.raises(ValueError, match="norm applies to"):
        build_backbone("LegNet", "tiny", norm="group")
    assert isinstance(build_backbone("PureCNN", "tiny", norm="group").cnn[0].norm, nn.GroupNorm)
    assert isinstance(build_backbone("MTLucifer", "tiny", norm="batch").cnn[0].norm, nn.BatchNorm1d)


@pytest.mark.parametrize("style", ["mlp", "linear"])
def test_heads_shapes(style: str) -> None:
    model = PromoterModel(_tiny("LegNet"), {"FluorescenceData": 3, "Sharpr_MPRA": 12}, style)
    x = _input(model.backbone, 4)
    assert model(x, "FluorescenceData").shape == (4, 3)
    assert model(x, "Sharpr_MPRA").shape == (4, 12)
    assert model.head_sizes == {"FluorescenceData": 3, "Sharpr_MPRA": 12}
    assert set(model.head_styles.values()) == {style}
    assert model.embed(x).shape == (4, 8)


def test_mlp_head_is_one_small_mlp_per_output() -> None:
    torch.manual_seed(0)
    head = build_head(6, 3, "mlp").eval()
    assert isinstance(head, MLPHead) and len(head.outputs) == 3
    first = head.outputs[0]
    assert [type(m) for m in first] == [nn.Linear, nn.ReLU, nn.Dropout, nn.Linear]
    assert first[0].weight.shape == (6, 6) and first[3].weight.shape == (1, 6)
    assert first[2].p == pytest.approx(0.1)
    h = torch.randn(5, 6)
    out = head(h)
    assert torch.equal(out[:, 1:2], head.outputs[1](h))
    linear = build_head(6, 40, "linear")
    assert isinstance(linear, nn.Linear) and linear.out_features == 40


def test_head_errors() -> None:
    model = PromoterModel(_tiny("LegNet"), {"RNASeq": 2}, "linear")
    with pytest.raises(KeyError, match=r"no head for task 'SuRE'.*\['RNASeq'\]"):
        model(_input(model.backbone, 2), "SuRE")
    with pytest.raises(ValueError, match=r"without '\.'"):
        model.add_head("a.b", 2)
    with pytest.raises(ValueError, match="positive number of logits"):
        model.add_head("x", 0)
    with pytest.raises(ValueError, match="head style must be one of"):
        model.add_head("x", 1, "conv")
    with pytest.raises(ValueError, match="head_style must be one of"):
        PromoterModel(_tiny("LegNet"), {}, "deep")
    model.add_head("FluorescenceData", 3, "mlp")
    assert model.head_styles == {"RNASeq": "linear", "FluorescenceData": "mlp"}


@pytest.mark.parametrize("name", ["MTLucifer", "LegNet", "PureCNN", "MotifBasedFCN"])
def test_freeze_for_probing_trains_only_heads_and_cls(name: str) -> None:
    torch.manual_seed(0)
    model = PromoterModel(_tiny(name), {"FluorescenceData": 3}, "mlp").freeze_for_probing()
    model.train()
    norms = model.frozen_norms()
    assert all(not module.training for module in norms)
    assert bool(norms) == (name != "MotifBasedFCN")
    assert all(m.training for m in model.heads.modules())
    before = {k: v.clone() for k, v in model.state_dict().items()}
    x = _input(model.backbone, 8)
    model(x, "FluorescenceData").square().mean().backward()
    with torch.no_grad():  # one SGD step (torch.optim's first step costs seconds to import)
        for param in model.parameters():
            if param.grad is not None:
                param.add_(param.grad + 0.1 * param, alpha=-0.1)
    frozen = {n for n, p in model.named_parameters() if not p.requires_grad}
    assert frozen == {n for n, p in model.named_parameters() if p.grad is None}
    changed = {k for k, v in model.state_dict().items() if not torch.equal(v, before[k])}
    expected_backbone = {"backbone.cls_token"} if name == "MTLucifer" else set()
    assert {k for k in changed if not k.startswith("heads.")} == expected_backbone
    head_weights = {k for k in before if k.startswith("heads.")}
    assert head_weights and head_weights <= changed
    nn.ModuleList([model]).eval().train()  # e.g. a LightningModule holding the model
    assert all(not module.training for module in model.frozen_norms())
    assert model.training and model.heads.training


def test_not_probing_keeps_everything_trainable() -> None:
    model = PromoterModel(_tiny("LegNet"), {"FluorescenceData": 3})
    assert model.frozen_norms() == []
    assert all(p.requires_grad for p in model.parameters())
    assert model.train().backbone.stem[1].training
