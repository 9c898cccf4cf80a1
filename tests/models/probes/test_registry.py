from __future__ import annotations

import math
from pathlib import Path

import pytest
import torch
from torch import nn

from exprflow.errors import InputError
from exprflow.models.probes.linear_probe import LinearProbe, LinearProbeConfig
from exprflow.models.probes.maxpool_perceptron import MaxPoolPerceptron
from exprflow.models.probes.registry import HEADS, config_from_json


def test_heads_targets_and_losses() -> None:
    table = {name: (spec.target, spec.loss) for name, spec in HEADS.items()}
    assert table == {
        "linear_probe": ("128bp_bins", "poisson_nll"),
        "conv_perceptron": ("single_bin", "mse"),
        "maxpool_perceptron": ("single_bin", "mse"),
        "transformer": ("single_bin", "mse"),
    }
    for name, spec in HEADS.items():
        assert spec.name == name == spec.config_cls.model_type


@pytest.mark.parametrize("name", sorted(HEADS))
def test_tiny_head_output_matches_its_labels(name: str) -> None:
    spec = HEADS[name]
    torch.manual_seed(0)
    head = spec.build(spec.config_cls.tiny(channels=64, tracks=4)).eval()
    x = torch.randn(2, 64, 896)
    bins = 896 if spec.target == "128bp_bins" else 1
    labels = torch.rand(2, bins, 4)  # the label file's (regions, bins, tracks) rows
    with torch.no_grad():
        out = head(x)
        target = spec.labels_as_output(labels)
        loss = spec.loss_fn()(out, target)
    assert out.shape == target.shape
    assert math.isfinite(loss.item())


def test_build_defaults_to_published_and_checks_the_config_type() -> None:
    with torch.device("meta"):
        probe = HEADS["linear_probe"].build()
    assert isinstance(probe, LinearProbe)
    assert probe.config == LinearProbeConfig()
    with pytest.raises(TypeError, match="needs a TransformerHeadConfig, got LinearProbeConfig"):
        HEADS["transformer"].build(LinearProbeConfig.tiny())


def test_labels_layouts() -> None:
    labels = torch.arange(2 * 3 * 4.0).reshape(2, 3, 4)
    binned = HEADS["linear_probe"].labels_as_output(labels)
    assert binned.shape == (2, 4, 3)
    assert binned[1, 2, 0] == labels[1, 0, 2]
    single = HEADS["transformer"].labels_as_output(labels[:, :1])
    torch.testing.assert_close(single, labels[:, 0])
    with pytest.raises(ValueError, match=r"single_bin labels must be \(batch, 1, tracks\)"):
        HEADS["transformer"].labels_as_output(labels)
    with pytest.raises(ValueError, match=r"128bp_bins labels must be \(batch, bins, tracks\)"):
        HEADS["linear_probe"].labels_as_output(labels[0])


def test_losses() -> None:
    poisson = HEADS["linear_probe"].loss_fn()
    assert isinstance(poisson, nn.PoissonNLLLoss)
    assert not poisson.log_input
    rate, count = torch.tensor([2.0]), torch.tensor([1.0])
    assert poisson(rate, count).item() == pytest.approx(2.0 - math.log(2.0), abs=1e-6)
    assert isinstance(HEADS["maxpool_perceptron"].loss_fn(), nn.MSELoss)


def test_published_loaders(real_dir: Path) -> None:
    assert HEADS["conv_perceptron"].load_published is None
    assert HEADS["transformer"].load_published is None
    loader = HEADS["maxpool_perceptron"].load_published
    assert loader is not None
    folder = real_dir / "basenji2"
    assert isinstance(loader(folder / "cs282a_maxpool_perceptron.pt"), MaxPoolPerceptron)


@pytest.mark.parametrize("name", sorted(HEADS))
def test_config_from_json_dispatches(name: str) -> None:
    config = HEADS[name].config_cls.tiny(tracks=3)
    assert config_from_json(config.to_json()) == config


@pytest.mark.parametrize(
    ("text", "problem"),
    [
        ("{", "not a JSON object"),
        ('{"model_type": "beluga"}', "model_type 'beluga' is no probe head"),
        ('{"model_type": "transformer", "heads": 7}', "heads=7 must divide channels=1536"),
    ],
)
def test_config_from_json_errors(text: str, problem: str) -> None:
    with pytest.raises(InputError, match=r"run\.json") as info:
        config_from_json(text, source="run.json")
    assert problem in str(info.value)
