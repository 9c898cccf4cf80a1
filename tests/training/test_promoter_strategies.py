"""Promoter strategies: the keyed pretraining cache, the four strategies, incompatible pairs."""

from __future__ import annotations

import json
from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest
import torch
from tests.training._promoter_tasks import chip, fluorescence, sure

from exprflow.models.promoter import PromoterModelConfig
from exprflow.training.promoter_fit import PromoterFitSettings
from exprflow.training.promoter_pretrain import pretrain_key, pretrained_backbone, tasks_digest
from exprflow.training.promoter_strategies import StrategyConfig, StrategySettings, run_strategy

FLUO = "FluorescenceData"
PRE = ("SuRE_classification", "ENCODETFChIPSeq")
FIT = PromoterFitSettings(lr=1e-2, batch_size=16, max_epochs=1, device="cpu")


class _BaseCounts:
    """Stand-in motif scanner: the four 'motifs' are the four bases."""

    n_motifs = 4
    names = ("A", "C", "G", "T")
    thresholds = np.zeros(4)

    def counts(self, codes: np.ndarray) -> np.ndarray:
        return np.stack([(codes == b).sum(axis=1) for b in range(4)], axis=1).astype(np.float32)


@pytest.fixture(scope="module")
def tasks() -> dict:
    return {
        FLUO: fluorescence(n=80, length=100, seeds=2),
        "ENCODETFChIPSeq": chip(n=40),
        "SuRE_classification": sure(n=40),
    }


def test_pretrain_key_changes_with_every_setting_that_changes_the_weights() -> None:
    base = pretrain_key("MTLucifer", "tiny", PRE, FIT, "d1")
    assert base == pretrain_key("MTLucifer", "tiny", PRE[::-1], FIT, "d1")
    assert base == pretrain_key(
        "MTLucifer", "tiny", PRE, replace(FIT, threads=2, device="gpu"), "d1"
    )
    changed = [
        pretrain_key("MTLucifer", "tiny", PRE, replace(FIT, lr=1e-3), "d1"),
        pretrain_key("MTLucifer", "tiny", PRE, replace(FIT, max_epochs=2), "d1"),
        pretrain_key("MTLucifer", "tiny", PRE, replace(FIT, train_mode="max_size_cycle"), "d1"),
        pretrain_key("MTLucifer", "tiny", PRE, replace(FIT, batch_size=12), "d1"),
        pretrain_key("MTLucifer", "tiny", PRE[:1], FIT, "d1"),
        pretrain_key("MTLucifer", "tiny", PRE, FIT, "d2"),
        pretrain_key("LegNet", "tiny", PRE, FIT, "d1"),
        pretrain_key("MTLucifer", "published", PRE, FIT, "d1"),
        pretrain_key("MTLucifer", "tiny", PRE, FIT, "d1", {"seq_length": 100}),
    ]
    assert len({base, *changed}) == len(changed) + 1


def test_tasks_digest_follows_the_data(tasks: dict) -> None:
    some = {name: tasks[name] for name in PRE}
    assert tasks_digest(some) == tasks_digest(dict(reversed(some.items())))
    edited = replace(tasks["ENCODETFChIPSeq"], targets=1 - tasks["ENCODETFChIPSeq"].targets)
    assert tasks_digest({**some, "ENCODETFChIPSeq": edited}) != tasks_digest(some)


def test_a_different_pretraining_is_never_reused(tmp_path: Path, tasks: dict) -> None:
    config = PromoterModelConfig("LegNet", "tiny", seq_length=100)
    pretrain = {name: tasks[name] for name in PRE}
    first = pretrained_backbone(config, pretrain, FIT, tmp_path)
    assert not first.reused
    assert sorted(p.name for p in first.folder.iterdir()) == ["fit.json", "model", "settings.json"]
    assert first.config.heads == {"ENCODETFChIPSeq": 3, "SuRE_classification": 40}
    assert first.config.head_style == "linear"
    settings = json.loads((first.folder / "settings.json").read_text())
    assert settings["fit"]["lr"] == FIT.lr and settings["tasks"] == sorted(PRE)

    again = pretrained_backbone(config, pretrain, FIT, tmp_path)
    assert again.reused and again.key == first.key
    assert all(
        torch.equal(v, again.model.state_dict()[k]) for k, v in first.model.state_dict().items()
    )

    other = pretrained_backbone(config, pretrain, replace(FIT, lr=5e-3), tmp_path)
    assert not other.reused and other.key != first.key
    assert sorted(p.name for p in tmp_path.iterdir() if not p.name.startswith(".")) == sorted(
        [first.key, other.key]
    )

    fewer = pretrained_backbone(config, {PRE[0]: tasks[PRE[0]]}, FIT, tmp_path)
    assert not fewer.reused and fewer.key not in (first.key, other.key)

    # a folder whose settings differ from the key's (tampered, or a collision) is refitted
    settings["fit"]["lr"] = 0.5
    (first.folder / "settings.json").write_text(json.dumps(settings))
    refit = pretrained_backbone(config, pretrain, FIT, tmp_path)
    assert not refit.reused and refit.key == first.key
    assert json.loads((first.folder / "settings.json").read_text())["fit"]["lr"] == FIT.lr


def _run(config: StrategyConfig, tasks: dict, tmp_path: Path, **kw: object):
    settings = StrategySettings(fit=FIT, pretrain=FIT, cache_dir=str(tmp_path / "cache"))
    return run_strategy(config, tasks, settings, tmp_path / config.strategy, **kw)


def test_the_four_strategies(tmp_path: Path, tasks: dict) -> None:
    single = _run(StrategyConfig("PureCNN", "single_task", seed=1, split_index=1), tasks, tmp_path)
    assert single.model_config.head_style == "mlp" and single.model_config.heads == {FLUO: 3}
    test_rows = tasks[FLUO].indices("test", 1)
    assert single.predictions.shape == (len(test_rows), 3)
    assert list(single.test_ids) == list(tasks[FLUO].ids[test_rows])
    cells = single.cell_metrics(tasks[FLUO].spec.outputs)
    assert [row["cell"] for row in cells] == ["JURKAT", "K562", "THP1"]
    assert set(cells[0]) == {"cell", "pearson", "spearman", "r2"}
    assert not (tmp_path / "single_task" / "checkpoints").exists()

    probe = _run(
        StrategyConfig("PureCNN", "pretrain+linear_probing", pretrain_tasks=PRE), tasks, tmp_path
    )
    assert probe.pretrain_key and not probe.pretrain_reused
    assert probe.model_config.heads == {FLUO: 3} and probe.model_config.head_style == "linear"
    pretrained = pretrained_backbone(
        PromoterModelConfig("PureCNN", "tiny", seq_length=100),
        {name: tasks[name] for name in PRE},
        FIT,
        tmp_path / "cache",
    )
    assert pretrained.reused and pretrained.key == probe.pretrain_key
    frozen = pretrained.model.backbone.state_dict()
    assert all(torch.equal(v, probe.model.backbone.state_dict()[k]) for k, v in frozen.items())

    tune = _run(StrategyConfig("PureCNN", "pretrain+finetune", pretrain_tasks=PRE), tasks, tmp_path)
    assert tune.pretrain_reused and tune.pretrain_key == probe.pretrain_key
    assert any(not torch.equal(v, tune.model.backbone.state_dict()[k]) for k, v in frozen.items())

    joint = _run(StrategyConfig("PureCNN", "joint", joint_tasks=PRE), tasks, tmp_path)
    assert joint.model_config.heads == {FLUO: 3, "SuRE_classification": 40, "ENCODETFChIPSeq": 3}
    assert joint.history[0]["val_SuRE_classification_mean_accuracy"] >= 0
    assert "mean_spearman" in joint.test and joint.pretrain_key == ""


def test_incompatible_backbone_and_task_are_named(tmp_path: Path, tasks: dict) -> None:
    wide = {**tasks, "ENCODETFChIPSeq": chip(n=20, width=300)}
    config = StrategyConfig("PureCNN", "joint", joint_tasks=("ENCODETFChIPSeq",))
    with pytest.raises(
        ValueError,
        match=r"PureCNN reads sequences of exactly 100 bp, but task ENCODETFChIPSeq has "
        r"sequences of up to 2\d\d bp",
    ):
        _run(config, wide, tmp_path)
    with pytest.raises(
        ValueError, match=r"MotifBasedFCN reads motif counts; tasks .* need a motif scanner"
    ):
        _run(StrategyConfig("MotifBasedFCN", "single_task"), tasks, tmp_path)


def test_motif_backbone_counts_motifs_for_every_task(tmp_path: Path, tasks: dict) -> None:
    config = StrategyConfig("MotifBasedFCN", "pretrain+finetune", pretrain_tasks=PRE)
    outcome = _run(config, tasks, tmp_path, scanner=_BaseCounts())
    assert outcome.model_config.n_motifs == 4
    assert outcome.predictions.shape[1] == 3


def test_bad_configurations_are_refused(tasks: dict, tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="strategy must be one of"):
        StrategyConfig("PureCNN", "transfer")
    with pytest.raises(ValueError, match="pretrain_tasks"):
        StrategyConfig("PureCNN", "pretrain+finetune")
    with pytest.raises(ValueError, match="pretrain_tasks"):
        StrategyConfig("PureCNN", "single_task", pretrain_tasks=PRE)
    with pytest.raises(ValueError, match="joint_tasks"):
        StrategyConfig("PureCNN", "joint")
    with pytest.raises(ValueError, match="target task FluorescenceData is also listed"):
        StrategyConfig("PureCNN", "joint", joint_tasks=(FLUO,))
    with pytest.raises(ValueError, match=r"tasks \['RNASeq'\] are not loaded"):
        _run(StrategyConfig("PureCNN", "joint", joint_tasks=("RNASeq",)), tasks, tmp_path)
