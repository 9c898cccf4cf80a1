"""What a deployment e2e test looks through: every run's artifacts, every logged text, secrets."""

from __future__ import annotations

import base64
import json
import uuid
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from mlflow.entities import FileInfo, Run
from mlflow.tracking import MlflowClient


@dataclass(frozen=True)
class Secrets:
    """Unique strings planted as every secret of the deployment and of the client."""

    aws: str
    admin: str
    pipeline: str
    reader: str
    flask: str
    client: str

    @classmethod
    def fresh(cls) -> Secrets:
        tag = uuid.uuid4().hex
        return cls(*(f"{name}-{tag}" for name in cls.__dataclass_fields__))

    def needles(self) -> dict[str, bytes]:
        """Each secret, and each password as the Basic header that carries it."""
        found = {name: value.encode() for name, value in vars(self).items()}
        for user in ("admin", "pipeline", "reader"):
            token = base64.b64encode(f"{user}:{getattr(self, user)}".encode())
            found[f"{user} Basic header"] = token
        return found


def all_runs(client: MlflowClient) -> list[Run]:
    """Every run of every experiment the client may read."""
    ids = [e.experiment_id for e in client.search_experiments()]
    return list(client.search_runs(ids, max_results=5000))


def run_files(client: MlflowClient, run_id: str, path: str | None = None) -> list[FileInfo]:
    """Every artifact file of a run, recursively, as ``MlflowClient`` lists them."""
    found = []
    for info in client.list_artifacts(run_id, path):
        found += run_files(client, run_id, info.path) if info.is_dir else [info]
    return found


def repo_files(repo: Any, path: str | None = None) -> list[FileInfo]:
    """Every file of an artifact repository (a logged model's location), recursively."""
    found = []
    for info in repo.list_artifacts(path):
        found += repo_files(repo, info.path) if info.is_dir else [info]
    return found


def logged_text(client: MlflowClient) -> dict[str, bytes]:
    """Everything the tracking server returns about runs, models and experiments."""
    found = {}
    experiments = client.search_experiments()
    found["experiments"] = json.dumps([(e.name, e.tags) for e in experiments]).encode()
    for run in all_runs(client):
        data = {
            "params": run.data.params,
            "tags": run.data.tags,
            "metrics": sorted(run.data.metrics),
            "name": run.info.run_name,
            "inputs": [
                (d.dataset.name, d.dataset.source, d.dataset.digest)
                for d in run.inputs.dataset_inputs
            ],
        }
        found[f"run {run.info.run_id}"] = json.dumps(data).encode()
    for model in client.search_logged_models([e.experiment_id for e in experiments]):
        found[f"logged model {model.model_id}"] = json.dumps([model.params, model.tags]).encode()
    for registered in client.search_registered_models():
        versions = client.search_model_versions(f"name = '{registered.name}'")
        text = [registered.tags, registered.description]
        text += [(v.tags, v.description, v.source, v.run_id) for v in versions]
        found[f"registered model {registered.name}"] = json.dumps(text).encode()
    return found


def files_under(root: Path) -> dict[str, bytes]:
    """Every file under ``root`` by path, with its bytes."""
    return {str(path): path.read_bytes() for path in root.rglob("*") if path.is_file()}
