from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import mlflow
import pytest
from mlflow.tracking import MlflowClient
from tests.promotion._toy import log_toy, register
from tests.steps._runs import latest_run

from exprflow.errors import InputError
from exprflow.promotion.policy import load_policy, project_root
from exprflow.steps.promote import STEP, PromoteParams, run

T = "exprflow.promotion."
POLICY = """
models:
  toy:
    metric: test_spearman
    direction: max
    min_improvement: 0.05
    checks:
      signature: true
      input_example: true
      min_test_size: {key: n_test, min: 10}
  other:
    metric: test_spearman
    direction: max
"""


@pytest.fixture
def policy(tracking: str, tmp_path: Path) -> Path:
    path = tmp_path / "policy.yaml"
    path.write_text(POLICY)
    return path


def _promote(policy: Path, **changes: Any) -> list[dict[str, Any]]:
    """Run the step; return its decisions.json."""
    outputs = run(PromoteParams(policy=str(policy), **changes))
    local = mlflow.artifacts.download_artifacts(outputs["decisions"])
    return json.loads(Path(local).read_text())


def _aliases(name: str = "toy") -> dict[str, str]:
    return {k: str(v) for k, v in MlflowClient().get_registered_model(name).aliases.items()}


def _tags(version: str, name: str = "toy") -> dict[str, str]:
    tags = MlflowClient().get_model_version(name, version).tags
    return {k[len(T) :]: v for k, v in tags.items() if k.startswith(T)}


def test_step_spec() -> None:
    assert (STEP.name, STEP.family, STEP.task, STEP.outputs) == (
        "promote", "pipeline", "promotion", ("decisions",),
    )  # fmt: skip
    assert STEP.defaults() == {
        "policy": "registry/policy.yaml", "models": "", "version": "", "source_prefix": "",
        "target_prefix": "", "parent_run": "",
    }  # fmt: skip


def test_champion_moves_only_for_a_big_enough_improvement(policy: Path) -> None:
    source = log_toy()
    digest = load_policy(policy).digest

    # The first version becomes champion; the challenger alias goes with the promotion.
    register("toy", source, test_spearman=0.5, n_test=20)
    (first,) = _promote(policy)
    assert (first["decision"], first["version"], first["champion_after"]) == ("promoted", "1", "1")
    assert first["checks"] == {
        "signature": "passed", "input_example": "passed", "min_test_size": "passed",
    }  # fmt: skip
    assert _aliases() == {"champion": "1"}
    assert _tags("1") == {
        "decision": "promoted", "reason": "no champion yet; test_spearman = 0.5.",
        "metric": "test_spearman", "candidate": "0.5", "champion": "none",
        "champion_version": "none", "improvement": "none", "policy_digest": digest,
        "run_id": latest_run().info.run_id,
    }  # fmt: skip
    finished = latest_run()
    assert finished.info.status == "FINISHED"
    assert finished.data.metrics == {"toy.candidate": 0.5}
    assert finished.data.tags[T + "decision.toy"] == "promoted"
    assert finished.data.tags["exprflow.output.decisions"].endswith("promotion/decisions.json")

    # Better, but by less than the minimum: it stays challenger.
    register("toy", source, test_spearman=0.52, n_test=20)
    (small,) = _promote(policy)
    assert small["decision"] == "kept" and "only 0.02 higher, < the minimum 0.05" in small["reason"]
    assert _aliases() == {"champion": "1", "challenger": "2"}
    assert _tags("2")["decision"] == "kept" and _tags("2")["champion_version"] == "1"
    assert latest_run().data.metrics == {
        "toy.candidate": 0.52, "toy.champion": 0.5, "toy.improvement": pytest.approx(0.02),
    }  # fmt: skip

    # Worse: it is the new challenger; the champion does not move.
    register("toy", source, test_spearman=0.3, n_test=20)
    (worse,) = _promote(policy)
    assert (worse["decision"], worse["champion_version"]) == ("kept", "1")
    assert _aliases() == {"champion": "1", "challenger": "3"}

    # Better by the minimum or more: champion moves, the old one is marked replaced.
    register("toy", source, test_spearman=0.6, n_test=20)
    (better,) = _promote(policy)
    assert (better["decision"], better["champion_after"]) == ("promoted", "4")
    assert _aliases() == {"champion": "4"}
    assert _tags("1")["replaced_by"] == "4" and _tags("1")["decision"] == "promoted"
    assert _tags("1")["replaced_by_run"] == latest_run().info.run_id

    # Nothing new: the champion is left as it is (and so are its tags).
    (again,) = _promote(policy)
    assert (again["decision"], again["reason"]) == ("kept", "version 4 is already the champion.")
    assert _tags("4")["decision"] == "promoted"

    # An explicit older version is compared again and stays challenger.
    (older,) = _promote(policy, models="toy", version="2")
    assert (older["decision"], older["version"]) == ("kept", "2")
    assert _aliases() == {"champion": "4", "challenger": "2"}

    markdown = Path(
        mlflow.artifacts.download_artifacts(f"runs:/{latest_run().info.run_id}/promotion")
    ) / "decisions.md"  # fmt: skip
    table = markdown.read_text()
    assert "| toy | 2 | kept | test_spearman (max, ≥ 0.05) | 0.52 | 0.6 (4) | 4 | – |" in table


def test_a_failed_check_moves_no_alias(policy: Path) -> None:
    register("toy", log_toy(), test_spearman=0.5, n_test=20)
    _promote(policy)
    cases = [
        (
            "unsigned",
            {},
            "failed checks: signature: the model has no signature; "
            "input_example: the model stores no serving input example.",
        ),
        (
            "bad_example",
            {},
            "failed checks: input_example: the stored example fails validate_serving_input "
            "(ValueError: x must be >= 0).",
        ),
        ("good", {"n_test": 5}, "failed checks: min_test_size: n_test = 5 < 10."),
        ("good", {"test_spearman": "nan"}, "failed checks: no finite test_spearman (got nan)."),
    ]
    for number, (kind, tags, reason) in enumerate(cases, start=2):
        register("toy", log_toy(kind), **{"test_spearman": 0.9, "n_test": 20, **tags})
        (decision,) = _promote(policy)
        assert (decision["decision"], decision["reason"]) == ("failed_checks", reason)
        assert _aliases() == {"champion": "1", "challenger": str(number)}
        assert _tags(str(number))["decision"] == "failed_checks"
        assert _tags(str(number))["reason"] == reason


def test_run_metrics_decide_over_version_tags(policy: Path) -> None:
    register("toy", log_toy(metrics={"test_spearman": 0.7, "n_test": 30}), test_spearman=0.1)
    (decision,) = _promote(policy, models="toy, toy")  # a model named twice is decided once
    assert (decision["decision"], decision["candidate"]) == ("promoted", 0.7)


def test_environment_promotion_copies_the_champion(policy: Path) -> None:
    source = log_toy()
    register("dev.toy", source, test_spearman=0.5, n_test=20)
    (first,) = _promote(policy, source_prefix="dev.", target_prefix="prod.")
    assert (first["registered_model"], first["copied_to"]) == ("dev.toy", "models:/prod.toy/1")
    assert _aliases("prod.toy") == {"champion": "1"}
    copy = MlflowClient().get_model_version("prod.toy", "1")
    assert copy.tags[T + "copied_from"] == "models:/dev.toy/1"
    assert copy.tags["test_spearman"] == "0.5"  # the source's tags travel with it
    assert mlflow.pyfunc.load_model("models:/prod.toy@champion").predict(
        mlflow.pyfunc.load_model("models:/dev.toy/1").input_example
    )["x"].tolist() == [2.0, 4.0]

    # Promoting again copies nothing; a better dev version is copied as the new champion.
    (again,) = _promote(policy, source_prefix="dev.", target_prefix="prod.")
    assert again["copied_to"] == "models:/prod.toy/1"
    register("dev.toy", source, test_spearman=0.9, n_test=20)
    (better,) = _promote(policy, source_prefix="dev.", target_prefix="prod.")
    assert (better["decision"], better["copied_to"]) == ("promoted", "models:/prod.toy/2")
    assert _aliases("prod.toy") == {"champion": "2"}
    assert len(MlflowClient().search_model_versions("name = 'prod.toy'")) == 2
    assert not any(v.current_stage != "None" for v in MlflowClient().search_model_versions())


def test_only_versions_made_under_the_parent_run(policy: Path) -> None:
    with mlflow.start_run() as parent, mlflow.start_run(nested=True):
        inside = mlflow.pyfunc.log_model(
            name="model", python_model=_toy_model(), pip_requirements=["mlflow"]
        ).model_uri
    register("toy", inside, test_spearman=0.5, n_test=20)
    register("toy", log_toy(), test_spearman=0.9, n_test=20)  # newer, outside the parent
    policy.write_text(POLICY.replace("input_example: true", "input_example: false").replace(
        "signature: true", "signature: false"
    ))  # fmt: skip
    (decision,) = _promote(policy, parent_run=parent.info.run_id)
    assert (decision["version"], decision["decision"]) == ("1", "promoted")
    with pytest.raises(InputError, match="toy has no version 2 made under run"):
        _promote(policy, models="toy", version="2", parent_run=parent.info.run_id)


def _toy_model() -> Any:
    from tests.promotion._toy import Doubler

    return Doubler()


def test_a_model_without_versions_is_recorded_not_a_crash(policy: Path) -> None:
    MlflowClient().create_registered_model("toy")
    (decision,) = _promote(policy)
    assert decision == {
        "model": "toy", "registered_model": "toy", "version": None, "model_uri": None,
        "decision": "nothing_to_promote", "reason": "toy has no version.",
        "metric": "test_spearman", "direction": "max", "min_improvement": 0.05,
        "candidate": None, "champion": None, "champion_version": None, "improvement": None,
        "checks": {}, "champion_after": None, "copied_to": None,
    }  # fmt: skip
    assert latest_run().info.status == "FINISHED"


def test_bad_parameters_are_refused(policy: Path) -> None:
    register("toy", log_toy(), test_spearman=0.5, n_test=20)
    cases = [
        ({"models": "toy,nope"}, f"{policy}: models: has no entry for model 'nope'"),
        ({"models": "other"}, "models: no registered model 'other'. Fix: register a version"),
        ({"models": "toy", "version": "9"}, "version: toy has no version 9."),
        ({"models": "toy", "version": "latest"}, "version: version='latest'"),
        ({"version": "1"}, "version: version='1' with models=''"),
        ({"source_prefix": "dev.", "target_prefix": "dev."}, "target_prefix equals source"),
        ({"target_prefix": "pr'od"}, 'target_prefix: target_prefix="pr\'od"'),
        ({"models": "toy", "source_prefix": "dev."}, "no registered model 'dev.toy'"),
    ]
    for changes, message in cases:
        with pytest.raises(InputError, match=message.replace("(", r"\(").replace(")", r"\)")):
            _promote(policy, **changes)
    with pytest.raises(InputError, match="no policy file there"):
        _promote(policy.parent / "absent.yaml")
    assert latest_run().info.status == "FAILED"
    assert _aliases() == {}  # nothing moved


@pytest.mark.slow  # only for the session's tiny_expecto fixture (~15-40 s); the test is ~1.5 s
def test_the_real_expecto_model_under_the_shipped_policy(
    tracking: str, tiny_expecto, monkeypatch: pytest.MonkeyPatch
) -> None:
    from exprflow.models.expecto.pyfunc import log_expecto_model

    with mlflow.start_run():
        mlflow.log_metrics({"test_spearman": 0.4, "n_test": 25})
        info = log_expecto_model(tiny_expecto.checkpoint, tiny_expecto.tissue_models)
    register("expecto", info.model_uri)
    outputs = run(PromoteParams())  # registry/policy.yaml of the project, from another cwd
    assert Path.cwd() != project_root()
    (decision,) = json.loads(
        Path(mlflow.artifacts.download_artifacts(outputs["decisions"])).read_text()
    )
    assert (decision["model"], decision["decision"]) == ("expecto", "promoted")
    assert decision["checks"] == {
        "signature": "passed", "input_example": "passed", "min_test_size": "passed",
    }  # fmt: skip
    assert _aliases("expecto") == {"champion": "1"}
