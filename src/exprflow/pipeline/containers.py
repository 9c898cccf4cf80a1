"""Run pipeline steps in their own images: the MLflow project and ``docker run`` options.

With images on, ``main`` runs step ``<step>`` as the project ``steps/<step>`` (whose
``docker_env`` names the step's image) through MLflow's docker backend. Steps pass large
outputs to each other as paths under the data root, so the data root is bind-mounted into
every container at the same absolute path and ``EXPRFLOW_DATA_ROOT`` names it there; on a
cluster it is a shared volume (``docker/kubernetes.md``). With a local artifact store the
experiment's artifact folder is mounted the same way (MLflow mounts only the step's own run
folder, and steps read their predecessors' artifacts). Other ``docker run`` options come
from the user (``gpus=all``, ``network=host`` to reach a tracking server on the host's
loopback, ``env-file=…`` for tracking credentials: an env file keeps them out of the
``docker run`` command MLflow logs). For the same reason steps in images must reach S3
through the tracking server's artifact proxy: with an ``s3://`` artifact store MLflow would
put ``AWS_SECRET_ACCESS_KEY`` on that logged command line, so
:meth:`Containers.with_artifacts` refuses it.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, replace
from pathlib import Path
from urllib.parse import urlparse

from mlflow.entities import Experiment

from exprflow.errors import InputError
from exprflow.pipeline.spec import StepSpec
from exprflow.steps._cli import split_list
from exprflow.tracking.store import data_root

__all__ = ["Containers", "parse_docker_args"]

#: ``docker run`` options exprflow sets itself (the data-root mount and its variable).
_RESERVED = {"v", "volume", "e", "env"}


def parse_docker_args(text: str) -> dict[str, str | bool]:
    """Parse ``"gpus=all,network=host,privileged"`` into MLflow's ``docker_args`` mapping.

    Raises
    ------
    InputError
        For an option exprflow sets itself (``v``/``volume``, ``e``/``env``), or a
        repeated one.
    """
    args: dict[str, str | bool] = {}
    for item in split_list(text):
        name, sep, value = item.partition("=")
        name = name.strip().lstrip("-")
        if name in _RESERVED:
            raise InputError(
                "docker_args", f"option {name!r} is set by exprflow (the data-root mount).",
                record=item, fix="pass other variables with env-file=<file>.",
            )  # fmt: skip
        if name in args:
            raise InputError("docker_args", f"option {name!r} given twice.", record=item)
        args[name] = value.strip() if sep else True
    return args


@dataclass(frozen=True)
class Containers:
    """How ``main`` runs steps in their images.

    Attributes
    ----------
    docker_args : dict
        The user's ``docker run`` options (see :func:`parse_docker_args`).
    root : Path
        The data root shared with the containers (default: this process's).
    artifacts : Path, optional
        A local artifact folder to share too (see :meth:`with_artifacts`).
    """

    docker_args: dict[str, str | bool]
    root: Path
    artifacts: Path | None = None

    @classmethod
    def from_text(cls, docker_args: str) -> Containers:
        """Settings from ``main``'s ``docker_args`` parameter and the current data root."""
        return cls(parse_docker_args(docker_args), data_root())

    def project(self, project_uri: str | Path, spec: StepSpec) -> str:
        """The MLflow project that runs ``spec`` in its image: ``<project>/steps/<name>``."""
        path = Path(project_uri) / "steps" / spec.name
        if not (path / "MLproject").exists():
            raise InputError(
                path / "MLproject", f"step {spec.name!r} has no image project.",
                fix="run `make mlproject` to generate steps/<step>/MLproject.",
            )  # fmt: skip
        return str(path)

    def with_artifacts(self, experiment: Experiment) -> Containers:
        """These settings for ``experiment``: its local artifact folder shared, if it has one.

        Raises
        ------
        InputError
            For a direct ``s3://`` artifact store while AWS credentials are set here:
            MLflow's docker backend would pass the secret key as ``-e`` on the ``docker
            run`` command it logs.
        """
        location = experiment.artifact_location
        parsed = urlparse(location)
        if parsed.scheme == "s3" and os.environ.get("AWS_SECRET_ACCESS_KEY"):
            raise InputError(
                location,
                "steps in images with a direct S3 artifact store: MLflow would log the "
                "AWS secret key on its docker command line.",
                fix="serve artifacts through the tracking server (--artifacts-destination "
                "s3://…, docker/tracking-server.md), so credentials stay on the server.",
            )
        if parsed.scheme in ("", "file"):
            return replace(self, artifacts=Path(parsed.path).resolve())
        return self

    def run_args(self) -> dict[str, str | bool]:
        """``docker_args`` for ``mlflow.projects.run``: the user's, plus the shared folders."""
        self.root.mkdir(parents=True, exist_ok=True)
        mounts: dict[str, str | bool] = {
            "v": f"{self.root}:{self.root}",
            "e": f"EXPRFLOW_DATA_ROOT={self.root}",
        }
        if self.artifacts is not None:
            self.artifacts.mkdir(parents=True, exist_ok=True)
            mounts["volume"] = f"{self.artifacts}:{self.artifacts}"
        return {**self.docker_args, **mounts}
