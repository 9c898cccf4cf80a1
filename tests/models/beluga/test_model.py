from __future__ import annotations

import pytest
import torch

from exprflow.models.beluga.config import BelugaConfig
from exprflow.models.beluga.model import CONV_INDICES, STATE_DICT_KEYS, Beluga

FULL_PARAMETERS = 149_536_251


@pytest.fixture(scope="module")
def full_meta() -> Beluga:
    with torch.device("meta"):
        return Beluga()


def test_state_dict_keys_and_shapes(full_meta: Beluga) -> None:
    state = full_meta.state_dict()
    assert len(STATE_DICT_KEYS) == 16
    assert tuple(state) == STATE_DICT_KEYS
    channels = [4, 320, 320, 480, 480, 640, 640]
    for n, index in enumerate(CONV_INDICES):
        assert state[f"model.0.{index}.weight"].shape == (channels[n + 1], channels[n], 1, 8)
        assert state[f"model.0.{index}.bias"].shape == (channels[n + 1],)
    assert state["model.1.2.1.weight"].shape == (2003, 67840)
    assert state["model.1.2.1.bias"].shape == (2003,)
    assert state["model.1.4.1.weight"].shape == (2002, 2003)
    assert state["model.1.4.1.bias"].shape == (2002,)


def test_full_parameter_count(full_meta: Beluga) -> None:
    assert sum(p.numel() for p in full_meta.parameters()) == FULL_PARAMETERS
    # 598,145,004 bytes of float32, as the released file's size implies
    assert FULL_PARAMETERS * 4 == 598_145_004


def test_layer_order(full_meta: Beluga) -> None:
    convs, classifier, sigmoid = full_meta.model
    kinds = [type(m).__name__ for m in convs]
    assert kinds[3:6] == ["ReLU", "Dropout", "MaxPool2d"]
    assert kinds[9:12] == ["ReLU", "Dropout", "MaxPool2d"]
    assert [convs[4].p, convs[10].p, classifier[0].p] == [0.2, 0.2, 0.5]
    assert isinstance(sigmoid, torch.nn.Sigmoid)


def test_tiny_output_contract() -> None:
    torch.manual_seed(0)
    model = Beluga(BelugaConfig.tiny(5)).eval()
    x = torch.nn.functional.one_hot(torch.randint(0, 4, (3, 2000)), 4).float().transpose(1, 2)
    with torch.no_grad():
        out = model(x)
        assert out.shape == (3, 5)
        assert torch.all((out > 0) & (out < 1))
        assert torch.equal(model(x.unsqueeze(2)), out)
        assert torch.allclose(torch.sigmoid(model.logits(x)), out)


def test_flatten_matches_the_published_view() -> None:
    torch.manual_seed(1)
    model = Beluga(BelugaConfig.tiny(4)).eval()
    x = torch.rand(2, 4, 1, 2000)
    with torch.no_grad():
        features = model.model[0](x)
        hidden = torch.relu(model.model[1][2][1](features.view(2, -1)))
        expected = model.model[1][4][1](hidden)
        assert torch.allclose(model.logits(x), expected)


@pytest.mark.parametrize("shape", [(2, 4, 1999), (2, 2000, 4), (2, 4, 2, 2000), (4, 2000)])
def test_bad_input_shape(shape: tuple[int, ...]) -> None:
    model = Beluga(BelugaConfig.tiny(2))
    with pytest.raises(ValueError, match=r"must have shape \(N, 4, 2000\) or \(N, 4, 1, 2000\)"):
        model(torch.zeros(shape))
