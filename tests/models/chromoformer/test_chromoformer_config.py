from __future__ import annotations

import pytest

from exprflow.errors import InputError
from exprflow.models.chromoformer.config import ChromoformerConfig


def test_defaults_are_the_published_default_yaml() -> None:
    config = ChromoformerConfig()
    assert config == ChromoformerConfig.published()
    assert (config.n_feats, config.d_emb, config.d_head, config.n_outputs) == (7, 128, 128, 2)
    assert (config.embed_layers, config.embed_heads, config.embed_d_ff) == (1, 2, 128)
    assert (config.pairwise_layers, config.pairwise_heads, config.pairwise_d_ff) == (2, 2, 256)
    assert (
        config.regulation_layers,
        config.regulation_heads,
        config.regulation_d_model,
        config.regulation_d_ff,
    ) == (6, 8, 256, 256)
    assert (config.resolutions, config.window, config.max_pcres) == ((2000, 500, 100), 40_000, 8)
    assert config.dropout == 0.0
    assert config.task == "classification"
    assert [config.n_bins(r) for r in config.resolutions] == [20, 80, 400]


def test_published_and_tiny_per_task() -> None:
    reg = ChromoformerConfig.published(n_feats=2, task="regression")
    assert (reg.n_feats, reg.n_outputs, reg.task) == (2, 1, "regression")
    tiny = ChromoformerConfig.tiny(n_feats=1, task="regression")
    assert (tiny.d_emb, tiny.n_outputs, tiny.resolutions) == (16, 1, (2000, 500, 100))
    assert ChromoformerConfig.tiny().task == "classification"
    with pytest.raises(ValueError, match="task must be one of"):
        ChromoformerConfig.published(task="clf")


def test_json_round_trip_keeps_tuples() -> None:
    config = ChromoformerConfig.tiny(n_feats=3, task="regression")
    again = ChromoformerConfig.from_json(config.to_json())
    assert again == config
    assert isinstance(again.resolutions, tuple)


def test_json_refuses_unknown_fields() -> None:
    doc = {**ChromoformerConfig().to_dict(), "n_marks": 3}
    with pytest.raises(InputError, match=r"unknown config fields \['n_marks'\]"):
        ChromoformerConfig.from_json(doc, "cfg.json")


@pytest.mark.parametrize(
    ("overrides", "message"),
    [
        ({"n_feats": 0}, "n_feats must be a positive integer"),
        ({"embed_heads": 3}, r"embed_heads \(3\) must divide d_emb \(128\)"),
        ({"d_emb": 15}, "d_emb must be even"),
        ({"regulation_d_model": 100, "regulation_heads": 8}, "regulation_heads .8. must divide"),
        ({"resolutions": (2000, 300)}, "resolution 300 bp does not divide"),
        ({"resolutions": (100, 100)}, "resolutions must be distinct"),
        ({"resolutions": ()}, "resolutions must be a non-empty tuple"),
        ({"dropout": 1.0}, r"dropout must be in \[0, 1\)"),
        ({"max_pcres": True}, "max_pcres must be a positive integer"),
    ],
)
def test_bad_sizes_are_refused(overrides: dict[str, object], message: str) -> None:
    with pytest.raises(ValueError, match=message):
        ChromoformerConfig(**overrides)  # type: ignore[arg-type]


def test_n_bins_refuses_unknown_resolution() -> None:
    with pytest.raises(ValueError, match="resolution 250 is not one of"):
        ChromoformerConfig().n_bins(250)
