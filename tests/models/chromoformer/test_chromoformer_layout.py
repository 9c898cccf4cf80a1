"""The state-dict layout against ../shared/reference/chromoformer_checkpoint.md, built here
from the document's key patterns (not read from the model)."""

from __future__ import annotations

import pytest

from exprflow.models.chromoformer.checkpoint import published_state_dict_layout
from exprflow.models.chromoformer.config import ChromoformerConfig
from exprflow.models.chromoformer.model import Chromoformer


def _ffn(prefix: str, d_ff: int) -> dict[str, tuple[int, ...]]:
    return {
        f"{prefix}.l1.weight": (d_ff, 128),
        f"{prefix}.l1.bias": (d_ff,),
        f"{prefix}.l2.weight": (128, d_ff),
        f"{prefix}.l2.bias": (128,),
        f"{prefix}.ln.weight": (128,),
        f"{prefix}.ln.bias": (128,),
    }


def _attention_tail(prefix: str, inner: int) -> dict[str, tuple[int, ...]]:
    return {
        f"{prefix}.ff.weight": (128, inner),
        f"{prefix}.ff.bias": (128,),
        f"{prefix}.ln.weight": (128,),
        f"{prefix}.ln.bias": (128,),
    }


def expected_layout(n_feats: int = 7, n_outputs: int = 2) -> dict[str, tuple[int, ...]]:
    """Every key and shape of the reference table for the published config."""
    layout: dict[str, tuple[int, ...]] = {}
    for r in (2000, 500, 100):
        layout[f"embed.{r}.lin_proj.weight"] = (128, n_feats)
        att = f"embed.{r}.transformer.layers.0.self_att"
        layout[f"{att}.gamma_f"] = (2,)
        layout[f"{att}.w_bias.weight"] = (2, 2)
        layout[f"{att}.att.weight"] = (384, 128)
        layout.update(_attention_tail(att, 128))
        layout.update(_ffn(f"embed.{r}.transformer.layers.0.ff", 128))
        pw = f"pairwise_interaction.{r}"
        layout[f"{pw}.ln.weight"] = (128,)
        layout[f"{pw}.ln.bias"] = (128,)
        layout[f"{pw}.lin_proj_p.weight"] = (128, 128)
        layout[f"{pw}.lin_proj_pcre.weight"] = (128, n_feats)
        for i in range(2):
            att = f"{pw}.transformer.layers.{i}.self_att"
            layout[f"{att}.gamma_f"] = (2,)
            layout[f"{att}.p_att.weight"] = (128, 128)
            layout[f"{att}.c_att.weight"] = (256, 128)
            layout.update(_attention_tail(att, 128))
            layout.update(_ffn(f"{pw}.transformer.layers.{i}.ff", 256))
        for i in range(6):
            att = f"regulation.{r}.transformer.layers.{i}.self_att"
            layout[f"{att}.gamma_f"] = (8,)
            layout[f"{att}.w_bias.weight"] = (8, 2)
            layout[f"{att}.att.weight"] = (1024, 128)
            layout.update(_attention_tail(att, 256))
            layout.update(_ffn(f"regulation.{r}.transformer.layers.{i}.ff", 256))
    layout["fc_head.0.weight"] = (128, 384)
    layout["fc_head.0.bias"] = (128,)
    layout["fc_head.2.weight"] = (n_outputs, 128)
    layout["fc_head.2.bias"] = (n_outputs,)
    return layout


def _count(layout: dict[str, tuple[int, ...]]) -> int:
    total = 0
    for shape in layout.values():
        size = 1
        for dim in shape:
            size *= dim
        total += size
    return total


def test_reference_table_totals() -> None:
    layout = expected_layout()
    assert len(layout) == 370
    assert _count(layout) == 5_342_672


@pytest.mark.parametrize("task", ["classification", "regression"])
def test_published_model_has_the_reference_layout(task: str) -> None:
    outputs = 2 if task == "classification" else 1
    config = ChromoformerConfig.published(task=task)
    assert published_state_dict_layout(config) == expected_layout(n_outputs=outputs)
    model = Chromoformer(config)
    shapes = {k: tuple(v.shape) for k, v in model.state_dict().items()}
    assert shapes == expected_layout(n_outputs=outputs)
    assert sum(p.numel() for p in model.parameters()) == _count(expected_layout(7, outputs))


def test_layout_follows_the_number_of_marks() -> None:
    layout = published_state_dict_layout(ChromoformerConfig.published(n_feats=2))
    assert layout == expected_layout(n_feats=2)


def test_position_tables_are_not_in_the_state_dict() -> None:
    model = Chromoformer(ChromoformerConfig.tiny())
    buffers = dict(model.named_buffers())
    assert buffers["embed.100.position"].shape == (400, 16)
    assert buffers["pairwise_interaction.2000.position"].shape == (20, 16)
    assert not any("position" in key for key in model.state_dict())
