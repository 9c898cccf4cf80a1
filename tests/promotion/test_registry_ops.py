from __future__ import annotations

import math

import mlflow
import pytest
from mlflow.tracking import MlflowClient
from tests.promotion._toy import Doubler, log_toy, register

from exprflow.promotion import registry_ops as ops
from exprflow.promotion.decide import Decision
from exprflow.promotion.policy import Checks, MinTestSize


def test_checks_on_good_unsigned_and_failing_models(tracking: str) -> None:
    good, unsigned, failing = log_toy(), log_toy("unsigned"), log_toy("bad_example")
    assert ops.check_signature(good) is None and ops.check_input_example(good) is None
    assert ops.check_signature(unsigned) == "signature: the model has no signature"
    assert ops.check_input_example(unsigned) == (
        "input_example: the model stores no serving input example"
    )
    assert ops.check_signature(failing) is None
    assert ops.check_input_example(failing) == (
        "input_example: the stored example fails validate_serving_input "
        "(ValueError: x must be >= 0)"
    )
    assert ops.check_signature("models:/absent/1").startswith(
        "signature: cannot read the model's MLmodel"
    )
    every = Checks(signature=True, input_example=True, min_test_size=MinTestSize("n_test", 10))
    assert ops.run_checks(good, every, {"n_test": 10.0}) == {
        "signature": None, "input_example": None, "min_test_size": None,
    }  # fmt: skip
    assert ops.run_checks(good, Checks(), {}) == {}
    assert ops.run_checks(good, Checks(min_test_size=MinTestSize("n", 3)), {}) == {
        "min_test_size": "min_test_size: no n recorded (need >= 3)"
    }


def test_version_metrics_read_tags_then_the_run(tracking: str) -> None:
    source = log_toy(metrics={"test_spearman": 0.25})
    register("toy", source, test_spearman=0.2, n_test=7, note="not a number")
    version = MlflowClient().get_model_version("toy", "1")
    metrics = ops.version_metrics(MlflowClient(), version)
    assert metrics == {"test_spearman": 0.25, "n_test": 7.0}


def test_versions_newest_first_and_under_a_parent(tracking: str) -> None:
    # The model is logged by a grandchild of ``parent``.
    with mlflow.start_run() as parent, mlflow.start_run(nested=True), mlflow.start_run(nested=True):
        inside = mlflow.pyfunc.log_model(
            name="model", python_model=Doubler(), pip_requirements=["mlflow"]
        ).model_uri
    outside = log_toy()
    for source in (outside, inside, outside):
        register("toy", source)
    client = MlflowClient()
    assert [str(v.version) for v in ops.versions(client, "toy")] == ["3", "2", "1"]
    assert [str(v.version) for v in ops.versions(client, "toy", parent.info.run_id)] == ["2"]
    assert ops.versions(client, "toy", "0" * 32) == []


def test_aliases_and_environment_copies(tracking: str) -> None:
    client = MlflowClient()
    register("dev.toy", log_toy(), test_spearman=0.5)
    assert ops.registered_model_exists(client, "dev.toy")
    assert not ops.registered_model_exists(client, "prod.toy")
    assert ops.alias_version(client, "dev.toy", ops.CHAMPION) is None
    ops.set_alias(client, "dev.toy", ops.CHAMPION, "1")
    assert str(ops.alias_version(client, "dev.toy", ops.CHAMPION).version) == "1"

    copy = ops.copy_champion(client, "dev.toy", "1", "prod.toy")
    assert str(copy.version) == "1" and copy.source == "models:/dev.toy/1"
    assert copy.tags == {"test_spearman": "0.5", "exprflow.promotion.copied_from": copy.source}
    again = ops.copy_champion(client, "dev.toy", "1", "prod.toy")
    assert str(again.version) == "1"
    assert len(client.search_model_versions("name = 'prod.toy'")) == 1


def test_decision_tags() -> None:
    decision = Decision("kept", "r" * 5000, 0.123456789012, math.nan, None)
    tags = ops.decision_tags(
        decision, metric="m", champion_version="3", policy_digest="d", run_id="run"
    )
    assert tags == {
        "exprflow.promotion.decision": "kept", "exprflow.promotion.reason": "r" * 5000,
        "exprflow.promotion.metric": "m", "exprflow.promotion.candidate": "0.123456789",
        "exprflow.promotion.champion": "nan", "exprflow.promotion.champion_version": "3",
        "exprflow.promotion.improvement": "none", "exprflow.promotion.policy_digest": "d",
        "exprflow.promotion.run_id": "run",
    }  # fmt: skip
    assert ops.model_uri("toy", "2") == "models:/toy/2"


@pytest.mark.parametrize("length", [10, 4500])
def test_long_tag_values_are_cut(tracking: str, length: int) -> None:
    register("toy", log_toy())
    ops.tag_version(MlflowClient(), "toy", "1", {"k": "x" * length})
    value = MlflowClient().get_model_version("toy", "1").tags["k"]
    assert len(value) == min(length, 4000)
