"""``main`` with images: the step's own project and the docker options it runs with."""

from __future__ import annotations

from pathlib import Path

import pytest
from mlflow.entities import Experiment

from exprflow.errors import InputError
from exprflow.pipeline.containers import Containers, parse_docker_args
from exprflow.steps import simulate

PROJECT_ROOT = Path(__file__).resolve().parents[2]


def test_docker_args_are_options_with_or_without_values() -> None:
    parsed = parse_docker_args(" gpus=all, network=host ,--shm-size=16g,privileged")
    assert parsed == {"gpus": "all", "network": "host", "shm-size": "16g", "privileged": True}
    assert parse_docker_args("") == {}


@pytest.mark.parametrize("text", ["v=/a:/a", "volume=/a:/a", "e=X=1", "--env=X=1"])
def test_options_exprflow_sets_itself_are_refused(text: str) -> None:
    with pytest.raises(InputError, match=r"set by exprflow.*env-file"):
        parse_docker_args(text)


def test_a_repeated_option_is_refused() -> None:
    with pytest.raises(InputError, match="'gpus' given twice"):
        parse_docker_args("gpus=all,gpus=0")


def test_data_root_is_mounted_at_the_same_path(tmp_path: Path) -> None:
    containers = Containers({"gpus": "all"}, tmp_path / "data")
    args = containers.run_args()
    assert args == {
        "gpus": "all",
        "v": f"{tmp_path / 'data'}:{tmp_path / 'data'}",
        "e": f"EXPRFLOW_DATA_ROOT={tmp_path / 'data'}",
    }
    assert (tmp_path / "data").is_dir()


def test_from_text_uses_this_process_data_root(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("EXPRFLOW_DATA_ROOT", str(tmp_path))
    assert Containers.from_text("network=host") == Containers({"network": "host"}, tmp_path)


def test_each_step_runs_its_own_image_project(tmp_path: Path) -> None:
    containers = Containers({}, tmp_path)
    assert containers.project(PROJECT_ROOT, simulate.STEP) == str(PROJECT_ROOT / "steps/simulate")
    with pytest.raises(InputError, match=r"has no image project.*make mlproject"):
        containers.project(tmp_path, simulate.STEP)


def _experiment(location: str) -> Experiment:
    return Experiment("1", "e", location, "active")


def test_direct_s3_store_with_credentials_is_refused(monkeypatch: pytest.MonkeyPatch) -> None:
    containers = Containers({}, Path("/data"))
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "planted")
    with pytest.raises(InputError, match="would log the AWS secret key") as caught:
        containers.with_artifacts(_experiment("s3://bucket/mlflow"))
    assert "planted" not in str(caught.value)
    proxied = containers.with_artifacts(_experiment("mlflow-artifacts:/1"))
    assert proxied == containers  # the proxy: credentials stay on the server, nothing to mount
    monkeypatch.delenv("AWS_SECRET_ACCESS_KEY")
    assert containers.with_artifacts(_experiment("s3://bucket/mlflow")) == containers


def test_a_local_artifact_store_is_mounted_at_the_same_path(tmp_path: Path) -> None:
    containers = Containers({}, tmp_path / "data").with_artifacts(
        _experiment(f"file://{tmp_path}/mlruns/1")
    )
    assert containers.artifacts == tmp_path / "mlruns" / "1"
    assert containers.run_args()["volume"] == f"{tmp_path}/mlruns/1:{tmp_path}/mlruns/1"
