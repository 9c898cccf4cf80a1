"""A sharded submission end to end, short of a cluster: submit, run the pods, merge.

An MLflow tracking server runs on loopback (sqlite store, proxied artifacts). ``submit``
creates the parent run on it and writes the shards' Indexed Job and the merge Job; each
pod of the manifests then runs as a local process with only the environment the manifest
gives it (:mod:`tests.deploy.kubernetes._pods`: Secret values, ``JOB_COMPLETION_INDEX``,
the data volume mapped onto a folder). The parent ends FINISHED with the merged table,
equal to an unsharded run's, and the Secret's password is in no run's params or tags.
"""

from __future__ import annotations

import os
import sys
from collections.abc import Iterator
from pathlib import Path

import mlflow
import pandas as pd
import pytest
import yaml
from mlflow.tracking import MlflowClient
from tests._live import end_group, free_port, start, wait_until_up
from tests.conftest import TinyExpecto
from tests.deploy.kubernetes._pods import run_pod

from exprflow.deploy.kubernetes.__main__ import main
from exprflow.steps import expecto_personalized
from exprflow.tracking.shards import CHUNK_TAG
from exprflow.tracking.step import OUTPUT_TAG

pytestmark = pytest.mark.integration

BIN = Path(sys.executable).parent
GENE_ROWS = [14, 17, 23]
PASSWORD = "planted-pa55word-7c1e"


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """``mlflow server`` on a free loopback port (sqlite, proxied local artifacts); its URL."""
    root = tmp_path_factory.mktemp("server")
    port = free_port()
    command = [str(BIN / "mlflow"), "server", "--host", "127.0.0.1", "--port", str(port)]
    command += ["--backend-store-uri", f"sqlite:///{root / 'mlflow.db'}", "--workers", "1"]
    command += ["--artifacts-destination", str(root / "artifacts")]
    log = root / "server.log"
    process = start(command, env=os.environ, cwd=root, log=log)
    url = f"http://127.0.0.1:{port}"
    try:
        wait_until_up(f"{url}/health", process, log, seconds=120)
        yield url
    finally:
        end_group(process)


def _inputs(world: Path, model: TinyExpecto, root: Path) -> dict[str, str]:
    lines = (world / "annotation" / "gene_list.csv").read_text().splitlines()
    genes = root / "genes.csv"
    genes.write_text("".join(lines[i] + "\n" for i in GENE_ROWS))
    table = (world / "variants" / "samples.tsv").read_text().splitlines()
    samples = root / "samples.tsv"
    samples.write_text("\n".join(table[:5]) + "\n")
    return {
        "world": str(world),
        "genes": str(genes),
        "samples": str(samples),
        "chromatin_model": str(model.checkpoint),
        "tissue_models": str(model.tissue_models),
    }


def _table(uri: str) -> pd.DataFrame:
    return pd.read_csv(mlflow.artifacts.download_artifacts(uri), sep="\t")


@pytest.fixture
def own_experiment() -> Iterator[None]:
    """No experiment id from earlier tests, and none left behind: ``configure`` (through
    ``mlflow.set_experiment``) exports ``MLFLOW_EXPERIMENT_ID``."""
    os.environ.pop("MLFLOW_EXPERIMENT_ID", None)
    yield
    os.environ.pop("MLFLOW_EXPERIMENT_ID", None)


@pytest.mark.usefixtures("own_experiment")
def test_submitted_shards_and_merge_finish_the_parent_run(
    server: str,
    tiny_world: Path,
    tiny_expecto: TinyExpecto,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    monkeypatch.setenv("MLFLOW_TRACKING_URI", server)
    monkeypatch.setenv("MLFLOW_TRACKING_USERNAME", "alice")
    monkeypatch.setenv("MLFLOW_TRACKING_PASSWORD", PASSWORD)
    mlflow.set_tracking_uri(server)
    inputs = _inputs(tiny_world, tiny_expecto, tmp_path)
    argv = ["submit", "--step", "expecto_personalized", "--num-chunks", "2"]
    argv += ["--out", str(tmp_path / "k8s"), "--experiment", "cluster"]
    argv += [arg for name, value in inputs.items() for arg in ("--set", f"{name}={value}")]
    argv += ["--merge-set", f"output={tmp_path / 'merged.tsv.gz'}"]
    assert main(argv) == 0
    printed = capsys.readouterr().out
    parent = printed.split()[3]  # "# parent run <id> on <uri>"
    shards_file = tmp_path / "k8s" / f"expecto-personalized-{parent[:8]}.yaml"
    merge_file = tmp_path / "k8s" / f"expecto-merge-{parent[:8]}.yaml"
    assert f"kubectl apply -f {shards_file}" in printed
    assert f"job/expecto-personalized-{parent[:8]}" in printed
    assert PASSWORD not in shards_file.read_text() + merge_file.read_text()

    secret = {
        "MLFLOW_TRACKING_URI": server,
        "MLFLOW_TRACKING_USERNAME": "alice",
        "MLFLOW_TRACKING_PASSWORD": PASSWORD,
    }
    data = tmp_path / "pvc"
    shards = yaml.safe_load(shards_file.read_text())
    for index in (1, 0):
        pod = run_pod(shards, secret, data, tmp_path / f"pod-{index}", index)
        assert pod.returncode == 0, pod.stderr[-3000:]
    merged = run_pod(yaml.safe_load(merge_file.read_text()), secret, data, tmp_path / "merge")
    assert merged.returncode == 0, merged.stderr[-3000:]

    client = MlflowClient(server)
    ended = client.get_run(parent)
    assert ended.info.status == "FINISHED"
    assert ended.data.tags[OUTPUT_TAG + "work_dir"].startswith(str(data))
    children = client.search_runs(
        [ended.info.experiment_id],
        f"tags.`mlflow.parentRunId` = '{parent}'",
        order_by=["attributes.start_time ASC"],
    )
    assert [(r.info.run_name, r.data.tags.get(CHUNK_TAG)) for r in children] == [
        ("expecto_personalized-shard-1", "1/2"),
        ("expecto_personalized-shard-0", "0/2"),
        ("expecto_merge", None),
    ]
    for run in [ended, *children]:
        recorded = [*run.data.params.values(), *run.data.tags.values()]
        assert not any(PASSWORD in value for value in recorded), run.info.run_name

    monkeypatch.setenv("EXPRFLOW_DATA_ROOT", str(tmp_path / "single"))
    monkeypatch.delenv("JOB_COMPLETION_INDEX", raising=False)
    monkeypatch.delenv("EXPRFLOW_PARENT_RUN_ID", raising=False)
    single = expecto_personalized.run(expecto_personalized.ExpectoPersonalizedParams(**inputs))
    expected = _table(single["predictions"])
    pd.testing.assert_frame_equal(_table(ended.data.tags[OUTPUT_TAG + "predictions"]), expected)
