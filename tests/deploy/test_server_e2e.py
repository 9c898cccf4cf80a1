"""The documented tracking-server deployment, end to end, on loopback.

An S3-protocol server (moto) and ``python -m exprflow.deploy.server`` (``mlflow server``
with a sqlite backend, ``--artifacts-destination s3://<bucket>/mlartifacts``, basic auth)
run on free loopback ports; only the server holds the S3 credentials. The pipeline runs
once (module fixture) through ``mlflow run … -e main -P size=tiny`` as a non-admin user
whose environment has the tracking URI, user name and password and nothing of S3. Then:
every artifact is an object in the bucket and downloads unchanged; large files go up in
parts (S3's own part count); the registered model is served from S3; unauthenticated and
read-only users cannot write; and planted secrets appear in no param, tag, metric,
artifact, log, command line or local file.
"""

from __future__ import annotations

import json
import math
import os
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import mlflow
import pytest
import requests
from boto3.s3.transfer import TransferConfig
from mlflow.entities import Run
from mlflow.store.artifact.artifact_repository_registry import get_artifact_repository
from mlflow.tracking import MlflowClient
from tests._live import (
    end_group,
    free_port,
    group_command_lines,
    group_environments,
    start,
    wait_until_up,
)
from tests.deploy._s3 import REGION, Bucket, s3_bucket
from tests.deploy._tracked import (
    Secrets,
    all_runs,
    files_under,
    logged_text,
    repo_files,
    run_files,
)

from exprflow.pipeline.registry import PIPELINE

# The first test also waits for the module's pipeline run (``main`` on the tiny world
# through the server, ≈ 10-12 min on 2 cores with train_mlm): more than the default 600 s.
pytestmark = [pytest.mark.integration, pytest.mark.timeout(1800)]

PROJECT_ROOT = Path(__file__).resolve().parents[2]
EXAMPLE = PROJECT_ROOT / "registry" / "examples" / "expecto.json"
BIN = Path(sys.executable).parent
ACCESS_KEY = "AKIAEXPRFLOWE2E"
PREFIX = "mlartifacts"
MIB = 2**20
#: Variables a client must not have: the server alone talks to S3.
_SERVER_ONLY = ("AWS_", "MLFLOW_S3_", "MLFLOW_TRACKING_", "MLFLOW_AUTH_", "MLFLOW_FLASK_")


@dataclass(frozen=True)
class Deployment:
    """The running tracking server."""

    url: str
    port: int
    root: Path
    log: Path
    process: subprocess.Popen[bytes]
    bucket: Bucket


@dataclass(frozen=True)
class Served:
    """A running ``mlflow models serve``."""

    url: str
    log: Path
    process: subprocess.Popen[bytes]


@dataclass(frozen=True)
class Pipeline:
    """The finished ``main`` run of the tiny pipeline."""

    parent: Run
    experiment_id: str
    log: Path
    data_root: Path


@pytest.fixture(scope="module")
def secrets() -> Secrets:
    return Secrets.fresh()


@pytest.fixture(scope="module")
def bucket(secrets: Secrets) -> Iterator[Bucket]:
    with s3_bucket(ACCESS_KEY, secrets.aws) as found:
        yield found


def _clean_environment() -> dict[str, str]:
    """This process's environment without anything tracking- or S3-related."""
    return {k: v for k, v in os.environ.items() if not k.startswith(_SERVER_ONLY)}


def _admin(url: str, secrets: Secrets, path: str, body: dict[str, Any]) -> None:
    answer = requests.post(f"{url}{path}", json=body, auth=("admin", secrets.admin), timeout=30)
    assert answer.status_code == 200, answer.text


@pytest.fixture(scope="module")
def deployment(
    tmp_path_factory: pytest.TempPathFactory, bucket: Bucket, secrets: Secrets
) -> Iterator[Deployment]:
    """``python -m exprflow.deploy.server`` as documented, with users pipeline and reader."""
    root = tmp_path_factory.mktemp("deployment") / "server"
    port = free_port()
    command = [sys.executable, "-m", "exprflow.deploy.server"]
    command += ["--backend-store-uri", f"sqlite:///{root}/mlflow.db"]
    command += ["--artifacts-destination", f"s3://{bucket.name}/{PREFIX}"]
    command += ["--s3-endpoint-url", bucket.endpoint, "--auth-config", str(root / "auth.ini")]
    command += ["--port", str(port), "--workers", "2", "--allowed-hosts", "mlflow"]
    command += ["--auth-cache-seconds", "60"]
    env = {
        **_clean_environment(),
        "AWS_ACCESS_KEY_ID": ACCESS_KEY,
        "AWS_SECRET_ACCESS_KEY": secrets.aws,
        "AWS_DEFAULT_REGION": REGION,
        "MLFLOW_AUTH_ADMIN_PASSWORD": secrets.admin,
        "MLFLOW_FLASK_SERVER_SECRET_KEY": secrets.flask,
    }
    log = root.parent / "server.log"
    process = start(command, env=env, cwd=root, log=log)
    try:
        url = f"http://127.0.0.1:{port}"
        wait_until_up(f"{url}/health", process, log, seconds=180)
        for user in ("pipeline", "reader"):
            body = {"username": user, "password": getattr(secrets, user)}
            _admin(url, secrets, "/api/2.0/mlflow/users/create", body)
        yield Deployment(url, port, root, log, process, bucket)
    finally:
        end_group(process)


def _client_environment(deployment: Deployment, secrets: Secrets, data: Path) -> dict[str, str]:
    """What a pipeline client gets: the server's URL, a user and password; nothing of S3."""
    return {
        **_clean_environment(),
        "PATH": os.pathsep.join([str(BIN), os.environ["PATH"]]),
        "MLFLOW_TRACKING_URI": deployment.url,
        "MLFLOW_TRACKING_USERNAME": "pipeline",
        "MLFLOW_TRACKING_PASSWORD": secrets.pipeline,
        "EXPRFLOW_DATA_ROOT": str(data),
        "EXPRFLOW_TEST_SECRET": secrets.client,
    }


@pytest.fixture(scope="module")
def client(deployment: Deployment, secrets: Secrets) -> Iterator[MlflowClient]:
    """This process as a client (no S3 variables; the admin unless a test says otherwise)."""
    with pytest.MonkeyPatch.context() as patch:
        for name in [k for k in os.environ if k.startswith(_SERVER_ONLY)]:
            patch.delenv(name)
        for name in ("MLFLOW_RUN_ID", "MLFLOW_EXPERIMENT_ID", "MLFLOW_EXPERIMENT_NAME"):
            patch.delenv(name, raising=False)
        patch.setenv("MLFLOW_TRACKING_URI", deployment.url)
        patch.setenv("MLFLOW_TRACKING_USERNAME", "admin")
        patch.setenv("MLFLOW_TRACKING_PASSWORD", secrets.admin)
        patch.setenv("MLFLOW_ENABLE_ARTIFACTS_PROGRESS_BAR", "false")
        mlflow.set_tracking_uri(deployment.url)
        yield MlflowClient(deployment.url)
        mlflow.set_tracking_uri(None)


@pytest.fixture(scope="module")
def pipeline(deployment: Deployment, secrets: Secrets, client: MlflowClient) -> Pipeline:
    """``mlflow run <project> -e main -P size=tiny`` as user ``pipeline`` (once per module)."""
    client_root = deployment.root.parent / "client"
    client_root.mkdir()
    env = _client_environment(deployment, secrets, client_root / "data")
    command = [str(BIN / "mlflow"), "run", str(PROJECT_ROOT), "-e", "main", "-P", "size=tiny"]
    command += ["--env-manager", "local", "--experiment-name", "exprflow"]
    log = deployment.root.parent / "pipeline.log"
    started = time.monotonic()
    with log.open("wb") as out:
        done = subprocess.run(
            command, cwd=client_root, env=env, stdout=out, stderr=subprocess.STDOUT, timeout=1200
        )
    print(f"pipeline against the server: {time.monotonic() - started:.0f} s")
    assert done.returncode == 0, log.read_text()[-6000:]
    experiment = client.get_experiment_by_name("exprflow")
    (parent,) = client.search_runs(
        [experiment.experiment_id], "tags.`mlflow.project.entryPoint` = 'main'"
    )
    return Pipeline(parent, experiment.experiment_id, log, client_root)


def _key(artifact_uri: str, path: str) -> str:
    """The S3 key of an artifact of a proxied location (``mlflow-artifacts:/…``)."""
    assert artifact_uri.startswith("mlflow-artifacts:/"), artifact_uri  # never s3:// for clients
    return f"{PREFIX}/{artifact_uri.removeprefix('mlflow-artifacts:/').strip('/')}/{path}"


def test_the_pipeline_ran_against_the_server(pipeline: Pipeline, client: MlflowClient) -> None:
    assert pipeline.parent.info.status == "FINISHED"
    steps = client.search_runs(
        [pipeline.experiment_id], f"tags.`mlflow.parentRunId` = '{pipeline.parent.info.run_id}'"
    )
    assert sorted(run.info.run_name for run in steps) == sorted(spec.name for spec in PIPELINE)
    assert {run.info.status for run in steps} == {"FINISHED"}
    assert pipeline.parent.info.artifact_uri.startswith("mlflow-artifacts:/")


def test_every_artifact_is_an_object_in_the_bucket(
    pipeline: Pipeline, client: MlflowClient, deployment: Deployment
) -> None:
    objects = deployment.bucket.sizes(PREFIX + "/")
    expected = {}
    for run in all_runs(client):
        for info in run_files(client, run.info.run_id):
            expected[_key(run.info.artifact_uri, info.path)] = info.file_size
    models = client.search_logged_models([e.experiment_id for e in client.search_experiments()])
    for model in models:
        for info in repo_files(get_artifact_repository(model.artifact_location)):
            expected[_key(model.artifact_location, info.path)] = info.file_size
    assert sorted(set(expected) - set(objects)) == []  # every artifact is in the bucket
    assert sorted(set(objects) - set(expected)) == []  # and every object is an artifact
    assert objects == expected  # of the size MLflow lists
    assert models and any(key.endswith("/MLmodel") for key in expected)
    print(f"artifacts listed by MLflow and found in the bucket: {len(expected)} "
          f"({len(models)} logged models); objects in the bucket: {len(objects)}")  # fmt: skip
    assert not list(deployment.root.parent.rglob("mlartifacts")), "a local artifact folder"


def test_artifacts_download_as_stored(
    pipeline: Pipeline, client: MlflowClient, deployment: Deployment, tmp_path: Path
) -> None:
    """A client's download equals the bucket's bytes (``.gz`` files stay compressed)."""
    compared = []
    for run in client.search_runs([pipeline.experiment_id]):
        folder = Path(
            client.download_artifacts(run.info.run_id, "", str(tmp_path / run.info.run_id))
        )
        for info in run_files(client, run.info.run_id):
            stored = deployment.bucket.read(_key(run.info.artifact_uri, info.path))
            assert (folder / info.path).read_bytes() == stored, info.path
            compared.append(info.path)
    assert any(path.endswith(".gz") for path in compared), compared


def test_large_files_go_up_in_parts(
    deployment: Deployment, client: MlflowClient, secrets: Secrets, tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:  # fmt: skip
    """Through the server (boto3 parts of 8 MiB) and straight to S3 (presigned 5 MiB parts)."""
    monkeypatch.setenv("MLFLOW_TRACKING_USERNAME", "pipeline")
    monkeypatch.setenv("MLFLOW_TRACKING_PASSWORD", secrets.pipeline)
    run = client.create_run(mlflow.set_experiment("multipart").experiment_id)
    proxied, direct = tmp_path / "proxied.bin", tmp_path / "direct.bin"
    proxied.write_bytes(os.urandom(30 * MIB))
    direct.write_bytes(os.urandom(12 * MIB))
    client.log_artifact(run.info.run_id, str(proxied), "large")
    monkeypatch.setenv("MLFLOW_MULTIPART_UPLOAD_MINIMUM_FILE_SIZE", str(5 * MIB))
    monkeypatch.setenv("MLFLOW_MULTIPART_UPLOAD_CHUNK_SIZE", str(5 * MIB))
    client.log_artifact(run.info.run_id, str(direct), "large")
    client.set_terminated(run.info.run_id)

    bucket = deployment.bucket
    for local, part_size in ((proxied, TransferConfig().multipart_chunksize), (direct, 5 * MIB)):
        key = _key(run.info.artifact_uri, f"large/{local.name}")
        etag, parts, first = bucket.parts(key)
        count = math.ceil(local.stat().st_size / part_size)
        print(f"{local.name}: {local.stat().st_size / MIB:.0f} MiB in {parts} parts, ETag {etag}")
        assert (parts, first) == (count, part_size) and count > 1
        assert etag.endswith(f"-{count}")  # S3's multipart ETag: md5 of the part md5s + count
        assert bucket.read(key) == local.read_bytes()
    log = deployment.log.read_text()
    assert "/mlflow-artifacts/mpu/create/" in log and "/mlflow-artifacts/mpu/complete/" in log


@pytest.fixture(scope="module")
def model_server(
    pipeline: Pipeline, deployment: Deployment, secrets: Secrets, client: MlflowClient
) -> Iterator[Served]:
    """``mlflow models serve`` of the alias promote set, with the client's environment."""
    aliases = client.get_registered_model("expecto").aliases
    alias = "champion" if "champion" in aliases else "challenger"
    assert alias in aliases, aliases
    version = client.get_model_version_by_alias("expecto", alias)
    model = client.get_logged_model(version.source.removeprefix("models:/"))
    stored = deployment.bucket.sizes(_key(model.artifact_location, ""))
    assert any(key.endswith("/MLmodel") for key in stored), stored  # the model lives in S3
    port = free_port()
    env = _client_environment(deployment, secrets, pipeline.data_root)
    command = [str(BIN / "mlflow"), "models", "serve", "-m", f"models:/expecto@{alias}"]
    command += ["--env-manager", "local", "--host", "127.0.0.1", "--port", str(port)]
    log = deployment.root.parent / "serve.log"
    process = start(command, env=env, cwd=deployment.root.parent / "serve", log=log)
    try:
        url = f"http://127.0.0.1:{port}"
        wait_until_up(f"{url}/ping", process, log, seconds=180)
        yield Served(url, log, process)
    finally:
        end_group(process)


def test_the_registered_model_is_served_from_s3(model_server: Served) -> None:
    answer = requests.post(
        f"{model_server.url}/invocations",
        data=EXAMPLE.read_bytes(),
        headers={"Content-Type": "application/json"},
        timeout=120,
    )
    assert answer.status_code == 200, answer.text
    rows = answer.json()["predictions"]
    assert len(rows) == len(json.loads(EXAMPLE.read_text())["dataframe_split"]["data"])
    values = [value for row in rows for value in row.values()]
    assert values and all(math.isfinite(v) for v in values)


def _writes(pipeline: Pipeline) -> dict[str, tuple[str, str, dict[str, Any] | bytes]]:
    """One request per kind of write, aimed at the pipeline's own runs and model."""
    run_id, exp = pipeline.parent.info.run_id, pipeline.experiment_id
    api = "/api/2.0/mlflow"
    return {
        "create experiment": ("POST", f"{api}/experiments/create", {"name": "planted"}),
        "create run": ("POST", f"{api}/runs/create", {"experiment_id": exp}),
        "log metric": (
            "POST",
            f"{api}/runs/log-metric",
            {"run_id": run_id, "key": "planted", "value": 1.0, "timestamp": 0, "step": 0},
        ),
        "set tag": ("POST", f"{api}/runs/set-tag", {"run_id": run_id, "key": "p", "value": "1"}),
        "delete run": ("POST", f"{api}/runs/delete", {"run_id": run_id}),
        "upload artifact": (
            "PUT",
            f"/api/2.0/mlflow-artifacts/artifacts/{exp}/{run_id}/artifacts/planted.txt",
            b"planted",
        ),
        "move alias": (
            "POST",
            f"{api}/registered-models/alias",
            {"name": "expecto", "alias": "champion", "version": "1"},
        ),
    }


def _send(url: str, method: str, path: str, body: Any, auth: tuple[str, str] | None) -> int:
    payload = {"data": body} if isinstance(body, bytes) else {"json": body}
    return requests.request(method, url + path, auth=auth, timeout=30, **payload).status_code


def test_writes_without_credentials_get_401(pipeline: Pipeline, deployment: Deployment) -> None:
    for name, (method, path, body) in _writes(pipeline).items():
        for auth in (None, ("pipeline", "wrong-password-123")):
            assert _send(deployment.url, method, path, body, auth) == 401, (name, auth)
    search = f"{deployment.url}/api/2.0/mlflow/experiments/search?max_results=1"
    assert requests.get(search, timeout=30).status_code == 401  # reads too


def test_a_reader_reads_but_cannot_write(
    pipeline: Pipeline, deployment: Deployment, secrets: Secrets, client: MlflowClient
) -> None:
    reader = ("reader", secrets.reader)
    run_id = pipeline.parent.info.run_id
    aliases = client.get_registered_model("expecto").aliases
    path = f"/api/2.0/mlflow/runs/get?run_id={run_id}"
    assert _send(deployment.url, "GET", path, None, reader) == 200  # default_permission READ
    writes = _writes(pipeline)
    del writes["create experiment"]  # MLflow lets any signed-in user make their own
    for name, (method, path, body) in writes.items():
        assert _send(deployment.url, method, path, body, reader) == 403, name
    after = client.get_run(run_id)
    assert after.info.lifecycle_stage == "active" and "planted" not in after.data.metrics
    assert "p" not in after.data.tags
    assert client.get_registered_model("expecto").aliases == aliases
    assert not [k for k in deployment.bucket.sizes(PREFIX + "/") if k.endswith("planted.txt")]


def test_unknown_host_names_are_refused(deployment: Deployment, secrets: Secrets) -> None:
    path = f"{deployment.url}/api/2.0/mlflow/experiments/search?max_results=1"
    auth = ("admin", secrets.admin)
    for host, status in (("evil.example", 403), (f"mlflow:{deployment.port}", 200)):
        answer = requests.get(path, headers={"Host": host}, auth=auth, timeout=30)
        assert answer.status_code == status, (host, answer.text)


def test_no_secret_in_params_tags_metrics_artifacts_logs_or_files(
    pipeline: Pipeline,
    deployment: Deployment,
    client: MlflowClient,
    secrets: Secrets,
    model_server: Served,
) -> None:
    sources = logged_text(client)
    for key in deployment.bucket.sizes():
        sources[f"s3://{deployment.bucket.name}/{key}"] = deployment.bucket.read(key)
    for name, process in (("server", deployment.process), ("model server", model_server.process)):
        sources[f"{name} command lines (ps)"] = "\n".join(group_command_lines(process)).encode()
    # Logs of the pipeline, the tracking server and the model server; the server's store,
    # users database and settings; the pipeline's working folder and data root.
    sources.update(files_under(deployment.root.parent))
    for log in (pipeline.log, deployment.log, model_server.log):
        assert str(log) in sources and sources[str(log)], log
    leaks = [
        f"{secret} in {source}"
        for source, content in sources.items()
        for secret, needle in secrets.needles().items()
        if needle in content
    ]
    assert not leaks, leaks
    print(f"searched {len(sources)} sources for {len(secrets.needles())} secrets")


def test_s3_credentials_live_only_in_the_servers_environment(
    deployment: Deployment, model_server: Served, secrets: Secrets
) -> None:
    servers = group_environments(deployment.process)  # the CLI and its uvicorn workers
    assert len(servers) >= 3 and all(env["AWS_SECRET_ACCESS_KEY"] == secrets.aws for env in servers)
    clients = group_environments(model_server.process)
    assert clients and all(env["MLFLOW_TRACKING_PASSWORD"] == secrets.pipeline for env in clients)
    for env in clients:
        assert not [name for name in env if name.startswith(("AWS_", "MLFLOW_S3_"))]
