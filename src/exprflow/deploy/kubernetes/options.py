"""Where and with what the Kubernetes Jobs run: :class:`ClusterOptions`, names, images.

Each option is checked when the options are made, with a message naming the option, its
value and what Kubernetes accepts, so nothing invalid reaches a manifest.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass, field

from exprflow.errors import InputError
from exprflow.pipeline.spec import StepSpec

__all__ = [
    "GPU_RESOURCE",
    "MAX_COMPLETIONS",
    "SECRET_KEYS",
    "ClusterOptions",
    "check_count",
    "check_dns_label",
    "check_run_id",
    "image",
    "job_name",
]

#: Keys of the Secret, each the environment variable of the same name in the pods.
SECRET_KEYS = ("MLFLOW_TRACKING_URI", "MLFLOW_TRACKING_USERNAME", "MLFLOW_TRACKING_PASSWORD")
#: Extended resource of NVIDIA's device plugin.
GPU_RESOURCE = "nvidia.com/gpu"
#: Kubernetes refuses more completions with backoffLimitPerIndex.
MAX_COMPLETIONS = 100_000
_DNS_LABEL = re.compile(r"[a-z0-9]([-a-z0-9]{0,61}[a-z0-9])?")
_QUANTITY = re.compile(r"[+-]?(\d+(\.\d*)?|\.\d+)([eE][+-]?\d+|[KMGTPE]i?|[numk])?")
_RUN_ID = re.compile(r"[0-9a-f]{32}")


@dataclass(frozen=True)
class ClusterOptions:
    """Where and with what the Jobs run (the command-line options of the renderer).

    Attributes
    ----------
    namespace : str, default "exprflow"
        Namespace of the Jobs (the Secret and the claim live there too).
    image_registry : str, default ""
        Prefix of the images, e.g. ``"ghcr.io/lab"`` (the bake build's ``REGISTRY``);
        empty: the bare names ``exprflow-<target>``.
    image_tag : str, default "latest"
        Tag of the images (the bake build's ``TAG``).
    secret : str, default "exprflow-tracking"
        Secret holding :data:`SECRET_KEYS`.
    data_claim : str, default "exprflow-data"
        PersistentVolumeClaim (ReadWriteMany) shared by the pods.
    data_mount : str, default "/data"
        Where the claim is mounted: the pods' ``EXPRFLOW_DATA_ROOT``.
    gpus : int, default 1
        ``nvidia.com/gpu`` limit of the pods of steps whose image has a deep-learning
        runtime (``StepSpec.runtime`` torch or tensorflow; 0: none); the merge pod has none.
    gpu_toleration : bool, default False
        Pods requesting GPUs tolerate the ``nvidia.com/gpu`` NoSchedule taint of GPU nodes.
    gpu_node_selector : mapping of str to str, default {}
        ``nodeSelector`` of the pods requesting GPUs (e.g. a GPU node pool's label).
    cpu, memory : str, default "4", "16Gi"
        Requests of every pod (memory also its limit).
    ttl_seconds : int, default 604800
        ``ttlSecondsAfterFinished``: finished Jobs are deleted after a week.
    parallelism : int or None, default None
        Shards running at once; None: all of them.
    backoff_limit_per_index : int, default 2
        Retries of one shard.
    max_failed_indexes : int or None, default None
        Failed shards after which the Job stops the others; None: ``num_chunks`` (every
        other shard runs to its end, so a rerun only redoes the failed ones).
    backoff_limit : int, default 2
        Retries of the merge Job and of a backend Job.
    """

    namespace: str = "exprflow"
    image_registry: str = ""
    image_tag: str = "latest"
    secret: str = "exprflow-tracking"
    data_claim: str = "exprflow-data"
    data_mount: str = "/data"
    gpus: int = 1
    gpu_toleration: bool = False
    gpu_node_selector: Mapping[str, str] = field(default_factory=dict)
    cpu: str = "4"
    memory: str = "16Gi"
    ttl_seconds: int = 7 * 24 * 3600
    parallelism: int | None = None
    backoff_limit_per_index: int = 2
    max_failed_indexes: int | None = None
    backoff_limit: int = 2

    def __post_init__(self) -> None:
        """Refuse values Kubernetes would refuse, naming the option."""
        for option, name in (
            ("namespace", self.namespace),
            ("secret", self.secret),
            ("data_claim", self.data_claim),
        ):
            check_dns_label(name, f"option {option}")
        for option, text in (("cpu", self.cpu), ("memory", self.memory)):
            if not _QUANTITY.fullmatch(text):
                raise InputError(
                    f"option {option}",
                    f"{text!r} is not a Kubernetes quantity (e.g. 4, 500m, 16Gi).",
                )
        if not self.data_mount.startswith("/"):
            raise InputError("option data_mount", f"{self.data_mount!r} is not an absolute path.")
        for option, number in (
            ("gpus", self.gpus),
            ("ttl_seconds", self.ttl_seconds),
            ("backoff_limit_per_index", self.backoff_limit_per_index),
            ("backoff_limit", self.backoff_limit),
        ):
            check_count(number, f"option {option}", low=0)


def check_count(value: object, where: str, *, low: int, high: int | None = None) -> None:
    """Refuse ``value`` (described by ``where``) unless it is an integer in ``[low, high]``."""
    ok = isinstance(value, int) and not isinstance(value, bool) and value >= low
    if not ok or (high is not None and value > high):  # type: ignore[operator]
        expected = f"an integer >= {low}" + (f" and <= {high}" if high is not None else "")
        raise InputError(where, f"{value!r}; expected {expected}.")


def check_dns_label(name: str, where: str) -> None:
    """Refuse ``name`` (described by ``where``) unless it is a DNS-1123 label."""
    if not _DNS_LABEL.fullmatch(name):
        raise InputError(
            where,
            f"{name!r} is not a DNS-1123 label (lowercase letters, digits and '-', at most "
            "63, starting and ending with a letter or digit).",
        )


def check_run_id(parent_run_id: str) -> None:
    """Refuse a parent run id that is not an MLflow run id (it names the Jobs)."""
    if not _RUN_ID.fullmatch(parent_run_id):
        raise InputError(
            "argument --parent-run-id",
            f"{parent_run_id!r} is not an MLflow run id (32 lowercase hex digits).",
            fix="give the id the submission printed (python -m exprflow.deploy.kubernetes submit).",
        )


def image(spec: StepSpec, options: ClusterOptions) -> str:
    """The step's image: ``[<registry>/]exprflow-<target>:<tag>`` (as the bake build tags it).

    Parameters
    ----------
    spec : StepSpec
        The step (its image name, ``StepSpec.image``, without the tag).
    options : ClusterOptions
        ``image_registry`` and ``image_tag``.
    """
    name = spec.image.rpartition(":")[0]
    registry = options.image_registry.rstrip("/")
    return f"{registry}/{name}:{options.image_tag}" if registry else f"{name}:{options.image_tag}"


def job_name(spec: StepSpec, parent_run_id: str) -> str:
    """``<target>-<first 8 characters of the parent run id>``: one Job per submission.

    Parameters
    ----------
    spec : StepSpec
        The step the Job runs.
    parent_run_id : str
        The submission's parent run.
    """
    name = f"{spec.target}-{parent_run_id[:8]}"
    check_dns_label(name, f"job name of {spec.name}")
    return name
