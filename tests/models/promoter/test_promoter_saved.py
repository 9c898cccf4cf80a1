from __future__ import annotations

import json
from pathlib import Path

import pytest
import torch
from torch import nn

from exprflow.errors import InputError
from exprflow.models.promoter import (
    BACKBONES,
    PromoterModelConfig,
    build_promoter_model,
    load_promoter_model,
    save_promoter_model,
)
from exprflow.models.promoter.saved import CONFIG_FILE, WEIGHTS_FILE


def _config(name: str, **changes: object) -> PromoterModelConfig:
    n_motifs = 12 if name.startswith("Motif") else 0
    fields: dict[str, object] = {
        "backbone": name,
        "size": "tiny",
        "n_motifs": n_motifs,
        "heads": {"FluorescenceData": 3, "RNASeq": 2},
        "head_style": "linear",
    }
    fields.update(changes)
    return PromoterModelConfig(**fields)  # type: ignore[arg-type]


def _input(config: PromoterModelConfig) -> torch.Tensor:
    gen = torch.Generator().manual_seed(1)
    if config.n_motifs:
        return torch.rand(6, config.n_motifs, generator=gen)
    codes = torch.randint(0, 4, (6, config.seq_length), generator=gen)
    return nn.functional.one_hot(codes, 4).float()


@pytest.mark.parametrize("name", BACKBONES)
def test_round_trip_gives_equal_outputs(name: str, tmp_path: Path) -> None:
    torch.manual_seed(0)
    config = _config(name)
    model = build_promoter_model(config)
    x = _input(config)
    model.train()
    model(x, "RNASeq")  # moves BatchNorm running statistics off their init
    model.eval()
    folder = save_promoter_model(model, config, tmp_path / "model")
    assert sorted(p.name for p in folder.iterdir()) == [CONFIG_FILE, WEIGHTS_FILE]
    loaded, loaded_config = load_promoter_model(folder)
    assert loaded_config == config and not loaded.training
    with torch.no_grad():
        for task in ("FluorescenceData", "RNASeq"):
            assert torch.equal(loaded(x, task), model(x, task))


def test_config_json_round_trip_and_mlp_heads(tmp_path: Path) -> None:
    config = _config("MTLucifer", head_style="mlp", norm="batch", heads={"FluorescenceData": 3})
    assert PromoterModelConfig.from_json(config.to_json()) == config
    model = build_promoter_model(config)
    loaded, _ = load_promoter_model(save_promoter_model(model, config, tmp_path / "m"))
    assert loaded.head_styles == {"FluorescenceData": "mlp"}
    assert isinstance(loaded.backbone.cnn[0].norm, nn.BatchNorm1d)


def test_save_refuses_a_config_that_does_not_describe_the_model(tmp_path: Path) -> None:
    config = _config("LegNet")
    model = build_promoter_model(config)
    with pytest.raises(ValueError, match="config heads"):
        save_promoter_model(model, _config("LegNet", heads={"RNASeq": 2}), tmp_path / "a")
    with pytest.raises(ValueError, match="head_style 'mlp'"):
        save_promoter_model(model, _config("LegNet", head_style="mlp"), tmp_path / "b")
    with pytest.raises(ValueError, match="not a LegNetLarge"):
        save_promoter_model(model, _config("LegNetLarge"), tmp_path / "c")
    model.add_head("Sharpr_MPRA", 12, "mlp")
    mixed = _config("LegNet", heads={**config.heads, "Sharpr_MPRA": 12})
    with pytest.raises(ValueError, match="one style per saved model"):
        save_promoter_model(model, mixed, tmp_path / "d")


def test_load_errors_name_the_file(tmp_path: Path) -> None:
    config = _config("PureCNN")
    folder = save_promoter_model(build_promoter_model(config), config, tmp_path / "m")
    doc = json.loads((folder / CONFIG_FILE).read_text())
    (folder / CONFIG_FILE).write_text(json.dumps({**doc, "seq_length": 300}))
    with pytest.raises(InputError, match=r"weights\.pt.*wrong shape"):
        load_promoter_model(folder)
    (folder / CONFIG_FILE).write_text(json.dumps({**doc, "model_type": "chromoformer"}))
    with pytest.raises(InputError, match=r"config\.json.*model_type is 'chromoformer'"):
        load_promoter_model(folder)
    (folder / CONFIG_FILE).write_text(json.dumps({**doc, "backbone": "DNABERT"}))
    with pytest.raises(InputError, match="backbone must be one of"):
        load_promoter_model(folder)
    with pytest.raises(InputError, match="cannot read the config"):
        load_promoter_model(tmp_path / "missing")


def test_config_validation() -> None:
    with pytest.raises(ValueError, match="n_motifs must be > 0 exactly"):
        PromoterModelConfig("MotifBasedFCN")
    with pytest.raises(ValueError, match="n_motifs must be > 0 exactly"):
        PromoterModelConfig("LegNet", n_motifs=5)
    with pytest.raises(ValueError, match="seq_length must be positive"):
        PromoterModelConfig("LegNet", seq_length=0)
    with pytest.raises(ValueError, match="head_style must be one of"):
        PromoterModelConfig("LegNet", head_style="deep")
    with pytest.raises(ValueError, match="positive number of logits"):
        PromoterModelConfig("LegNet", heads={"RNASeq": 0})
    with pytest.raises(ValueError, match="head name"):
        PromoterModelConfig("LegNet", heads={"a.b": 1})
    with pytest.raises(ValueError, match="norm must be one of"):
        PromoterModelConfig("MTLucifer", norm="layer")
