"""Render the Kubernetes manifests of a step: sharded Indexed Job, merge Job, MLflow backend.

The templates are the YAML files in ``templates/`` (read with :mod:`importlib.resources`);
rendering fills their marked fields from the step's spec and :class:`ClusterOptions`, and
returns plain dicts (:func:`to_yaml` writes them out):

- :func:`render_shards` — a sharded step (``StepSpec.merged_by`` set) as one Indexed Job:
  ``completions`` = ``num_chunks``, ``JOB_COMPLETION_INDEX`` = the shard (the step's
  ``chunk_index`` is -1), per-index retries, GPU limits, the tracking URI and credentials
  from a Secret, the shared data volume at ``EXPRFLOW_DATA_ROOT`` and the submission's
  ``EXPRFLOW_PARENT_RUN_ID``;
- :func:`render_merge` — the merging step (``merged_by``) as a one-pod Job under the same
  parent run;
- :func:`render_backend_job` / :func:`backend_config` — the Job template and backend
  config of MLflow's kubernetes backend, for any step.

Only the names of Secret keys appear in the manifests, never a credential: nothing here
reads the environment.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from importlib import resources
from typing import Any

import yaml

from exprflow.deploy.kubernetes.command import resolve_params, step_command, step_spec
from exprflow.deploy.kubernetes.options import (
    GPU_RESOURCE,
    MAX_COMPLETIONS,
    ClusterOptions,
    check_count,
    check_run_id,
    image,
    job_name,
)
from exprflow.errors import InputError
from exprflow.pipeline.spec import StepSpec
from exprflow.tracking.shards import PARENT_ENV

__all__ = [
    "backend_config",
    "render_backend_job",
    "render_merge",
    "render_shards",
    "shard_params",
    "to_yaml",
]

_DATA_ENV = "EXPRFLOW_DATA_ROOT"


def _template(name: str) -> dict[str, Any]:
    text = resources.files(__package__).joinpath("templates").joinpath(name).read_text()
    loaded: dict[str, Any] = yaml.safe_load(text)
    return loaded


def _label(job: dict[str, Any], spec: StepSpec, parent_run_id: str | None) -> None:
    """Set the component (and parent-run) labels of the Job and of its pods."""
    for meta in (job["metadata"], job["spec"]["template"]["metadata"]):
        meta["labels"]["app.kubernetes.io/component"] = spec.target
        if parent_run_id is None:
            meta["labels"].pop("exprflow/parent-run", None)
        else:
            meta["labels"]["exprflow/parent-run"] = parent_run_id


def _gpus(spec: StepSpec, options: ClusterOptions) -> int:
    """GPUs of the step's pod: none for an image without a deep-learning runtime."""
    return 0 if spec.runtime == "python" else options.gpus


def _fill_pod(
    pod: dict[str, Any], options: ClusterOptions, env: Mapping[str, str], *, gpus: int
) -> dict[str, Any]:
    """Fill the pod spec: env (Secret refs, plain values), resources, volume, scheduling."""
    container = pod["containers"][0]
    for entry in container["env"]:
        ref = entry.get("valueFrom", {}).get("secretKeyRef")
        if ref is not None:
            ref["name"] = options.secret
        elif entry["name"] in env:
            entry["value"] = env[entry["name"]]
    limits: dict[str, Any] = {"memory": options.memory}
    if gpus:
        limits[GPU_RESOURCE] = gpus
    container["resources"] = {
        "requests": {"cpu": options.cpu, "memory": options.memory},
        "limits": limits,
    }
    container["volumeMounts"][0]["mountPath"] = options.data_mount
    pod["volumes"][0]["persistentVolumeClaim"]["claimName"] = options.data_claim
    if gpus and options.gpu_toleration:
        pod["tolerations"] = [{"key": GPU_RESOURCE, "operator": "Exists", "effect": "NoSchedule"}]
    if gpus and options.gpu_node_selector:
        pod["nodeSelector"] = dict(options.gpu_node_selector)
    return container


def shard_params(
    spec: StepSpec, num_chunks: int, overrides: Mapping[str, str]
) -> dict[str, object]:
    """The parameters every shard of ``spec`` runs with (and the parent run records).

    Defaults, then ``overrides`` (checked), then ``num_chunks`` and ``chunk_index=-1``
    (each shard reads ``JOB_COMPLETION_INDEX``).

    Parameters
    ----------
    spec : StepSpec
        The sharded step (``merged_by`` set).
    num_chunks : int
        Number of shards, 1 … :data:`~exprflow.deploy.kubernetes.options.MAX_COMPLETIONS`.
    overrides : mapping of str to str
        Step parameters other than the defaults (``--set``).

    Returns
    -------
    dict
        Parameter name → value, in the dataclass's field order.

    Raises
    ------
    InputError
        ``spec`` is not sharded, ``num_chunks`` is out of range, or a bad override.
    """
    if not spec.merged_by:
        raise InputError(
            "argument --step",
            f"step {spec.name} is not sharded (no merged_by); it runs as one Job.",
            fix="render it for MLflow's kubernetes backend (the backend subcommand).",
        )
    check_count(num_chunks, "argument num_chunks", low=1, high=MAX_COMPLETIONS)
    return resolve_params(spec, overrides, fixed={"num_chunks": num_chunks, "chunk_index": -1})


def render_shards(
    step: str | StepSpec,
    num_chunks: int,
    parent_run_id: str,
    *,
    overrides: Mapping[str, str] | None = None,
    options: ClusterOptions | None = None,
) -> dict[str, Any]:
    """The Indexed Job running the shards of a sharded step.

    Parameters
    ----------
    step : str or StepSpec
        The sharded step (``merged_by`` set), e.g. ``"expecto_personalized"``.
    num_chunks : int
        Shards: the Job's ``completions`` and the step's ``num_chunks``.
    parent_run_id : str
        The submission's parent run (``EXPRFLOW_PARENT_RUN_ID`` of every pod).
    overrides : mapping of str to str, optional
        Step parameters other than the defaults (``--set``).
    options : ClusterOptions, optional
        Namespace, image, Secret, volume, resources; default ``ClusterOptions()``.

    Returns
    -------
    dict
        The ``batch/v1`` Job.
    """
    spec = step_spec(step) if isinstance(step, str) else step
    options = options or ClusterOptions()
    params = shard_params(spec, num_chunks, overrides or {})
    check_run_id(parent_run_id)
    parallelism = num_chunks if options.parallelism is None else options.parallelism
    max_failed = num_chunks if options.max_failed_indexes is None else options.max_failed_indexes
    check_count(parallelism, "option parallelism", low=1)
    check_count(max_failed, "option max_failed_indexes", low=0, high=num_chunks)
    job = _template("indexed-job.yaml")
    job["metadata"].update(name=job_name(spec, parent_run_id), namespace=options.namespace)
    _label(job, spec, parent_run_id)
    job["spec"].update(
        completions=num_chunks,
        parallelism=min(parallelism, num_chunks),
        backoffLimitPerIndex=options.backoff_limit_per_index,
        maxFailedIndexes=max_failed,
        ttlSecondsAfterFinished=options.ttl_seconds,
    )
    env = {_DATA_ENV: options.data_mount, PARENT_ENV: parent_run_id}
    container = _fill_pod(job["spec"]["template"]["spec"], options, env, gpus=_gpus(spec, options))
    container.update(image=image(spec, options), command=step_command(spec, params))
    return job


def render_merge(
    step: str | StepSpec,
    parent_run_id: str,
    *,
    overrides: Mapping[str, str] | None = None,
    options: ClusterOptions | None = None,
) -> dict[str, Any]:
    """The Job running the merging step (``merged_by``) of a sharded step's submission.

    Parameters
    ----------
    step : str or StepSpec
        The sharded step; its ``merged_by`` step runs.
    parent_run_id : str
        The submission's parent run: the merge finds the shards' runs under it and ends it.
    overrides : mapping of str to str, optional
        Parameters of the merging step (``--merge-set``), e.g. ``output``.
    options : ClusterOptions, optional
        As for :func:`render_shards`; the merge pod requests no GPU.

    Returns
    -------
    dict
        The ``batch/v1`` Job.
    """
    spec = step_spec(step) if isinstance(step, str) else step
    options = options or ClusterOptions()
    if not spec.merged_by:
        shard_params(spec, 1, {})  # raises: not sharded
    merge = step_spec(spec.merged_by)
    params = resolve_params(merge, overrides or {}, option="--merge-set")
    check_run_id(parent_run_id)
    job = _template("merge-job.yaml")
    job["metadata"].update(name=job_name(merge, parent_run_id), namespace=options.namespace)
    _label(job, merge, parent_run_id)
    job["spec"].update(
        backoffLimit=options.backoff_limit, ttlSecondsAfterFinished=options.ttl_seconds
    )
    env = {_DATA_ENV: options.data_mount, PARENT_ENV: parent_run_id}
    container = _fill_pod(job["spec"]["template"]["spec"], options, env, gpus=0)
    container.update(image=image(merge, options), command=step_command(merge, params))
    return job


def render_backend_job(
    step: str | StepSpec, options: ClusterOptions | None = None
) -> dict[str, Any]:
    """The Job template of MLflow's kubernetes backend for one step.

    MLflow fills ``metadata.name`` and the container's name, image and command, and
    appends ``MLFLOW_RUN_ID`` / ``MLFLOW_EXPERIMENT_ID`` / ``MLFLOW_TRACKING_URI``; the
    template holds the rest: namespace, credentials from the Secret, the data volume,
    resources (GPU for steps whose image has a deep-learning runtime), retries, TTL.

    Parameters
    ----------
    step : str or StepSpec
        Any step of :data:`~exprflow.pipeline.registry.STEPS`.
    options : ClusterOptions, optional
        Default ``ClusterOptions()``.

    Returns
    -------
    dict
        The Job template (a valid ``batch/v1`` Job with placeholder name and command).
    """
    spec = step_spec(step) if isinstance(step, str) else step
    options = options or ClusterOptions()
    job = _template("mlflow-job.yaml")
    job["metadata"]["namespace"] = options.namespace
    _label(job, spec, None)
    job["spec"].update(
        backoffLimit=options.backoff_limit, ttlSecondsAfterFinished=options.ttl_seconds
    )
    env = {_DATA_ENV: options.data_mount}
    _fill_pod(job["spec"]["template"]["spec"], options, env, gpus=_gpus(spec, options))
    return job


def backend_config(
    step: str | StepSpec,
    template_path: str,
    *,
    repository_uri: str = "",
    kube_context: str = "",
    options: ClusterOptions | None = None,
) -> dict[str, str]:
    """The ``--backend-config`` of MLflow's kubernetes backend for one step.

    Parameters
    ----------
    step : str or StepSpec
        The step.
    template_path : str
        Where the Job template (:func:`render_backend_job`) is written.
    repository_uri : str, optional
        Repository MLflow tags and pushes the step's image to; default
        ``<image_registry>/exprflow-<target>``.
    kube_context : str, optional
        kubectl context; empty: the current one (or the in-cluster configuration).
    options : ClusterOptions, optional
        For the default repository.

    Raises
    ------
    InputError
        No repository given and no image registry to derive it from.
    """
    spec = step_spec(step) if isinstance(step, str) else step
    options = options or ClusterOptions()
    if not repository_uri:
        if not options.image_registry:
            raise InputError(
                "argument --repository-uri",
                "MLflow pushes the image to a repository: none given and no --image-registry.",
                fix="pass --image-registry ghcr.io/lab (or --repository-uri …).",
            )
        repository_uri = image(spec, options).rpartition(":")[0]
    config = {"kube-job-template-path": template_path, "repository-uri": repository_uri}
    if kube_context:
        config["kube-context"] = kube_context
    return config


def to_yaml(manifests: Sequence[Mapping[str, Any]]) -> str:
    """The manifests as one YAML stream (documents separated by ``---``)."""
    return yaml.safe_dump_all([dict(m) for m in manifests], sort_keys=False, width=100)
