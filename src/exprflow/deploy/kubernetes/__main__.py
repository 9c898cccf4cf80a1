"""Command line: render a step's Kubernetes manifests, submit a sharded step, or MLflow's backend.

``python -m exprflow.deploy.kubernetes render --step expecto_personalized --num-chunks 8
--parent-run-id <id> [--set name=value …]`` prints the shards' Indexed Job and the merge Job
(YAML, ``---``-separated). ``submit`` first creates the parent run on the tracking server
(``MLFLOW_TRACKING_URI``, credentials from ``MLFLOW_TRACKING_USERNAME`` / ``_PASSWORD``),
writes both manifests to ``--out`` and prints the ``kubectl`` commands that run them.
``backend --step <step>`` writes the Job template and backend config of MLflow's kubernetes
backend and prints the ``mlflow run`` command. Bad options exit with status 2 and a message.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Any
from urllib.parse import urlparse

from exprflow.atomic import atomic_path
from exprflow.deploy.kubernetes.command import parse_sets, step_spec
from exprflow.deploy.kubernetes.options import SECRET_KEYS, ClusterOptions
from exprflow.deploy.kubernetes.render import (
    backend_config,
    render_backend_job,
    render_merge,
    render_shards,
    shard_params,
    to_yaml,
)
from exprflow.errors import ExprflowError, InputError
from exprflow.pipeline.spec import StepSpec
from exprflow.tracking.shards import create_parent_run

__all__ = ["main"]

#: Stands for the parent run id while checking that a submission renders.
_PROBE_RUN_ID = "0" * 32


def _cluster_arguments(parser: argparse.ArgumentParser) -> None:
    defaults = ClusterOptions()
    group = parser.add_argument_group("cluster")
    group.add_argument("--namespace", default=defaults.namespace)
    group.add_argument("--image-registry", default="", help="e.g. ghcr.io/lab (bake REGISTRY)")
    group.add_argument("--image-tag", default=defaults.image_tag, help="bake TAG")
    group.add_argument("--secret", default=defaults.secret, help=f"holds {', '.join(SECRET_KEYS)}")
    group.add_argument("--data-claim", default=defaults.data_claim, help="ReadWriteMany PVC")
    group.add_argument("--data-mount", default=defaults.data_mount, help="EXPRFLOW_DATA_ROOT")
    group.add_argument("--gpus", type=int, default=defaults.gpus, help="per pod; 0: none")
    group.add_argument("--gpu-toleration", action="store_true", help="tolerate nvidia.com/gpu")
    group.add_argument(
        "--gpu-node-selector",
        action="append",
        default=[],
        metavar="KEY=VALUE",
        help="nodeSelector of GPU pods (repeatable)",
    )
    group.add_argument("--cpu", default=defaults.cpu)
    group.add_argument("--memory", default=defaults.memory)
    group.add_argument("--ttl-seconds", type=int, default=defaults.ttl_seconds)
    group.add_argument("--backoff-limit", type=int, default=defaults.backoff_limit)


def _shard_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--num-chunks", type=int, required=True, help="shards (completions)")
    parser.add_argument(
        "--set",
        action="append",
        default=[],
        metavar="NAME=VALUE",
        help="a step parameter (repeatable)",
    )
    parser.add_argument(
        "--merge-set",
        action="append",
        default=[],
        metavar="NAME=VALUE",
        help="a parameter of the merging step (repeatable)",
    )
    parser.add_argument("--parallelism", type=int, default=None, help="default: all shards")
    parser.add_argument("--backoff-limit-per-index", type=int, default=2)
    parser.add_argument("--max-failed-indexes", type=int, default=None, help="default: all")


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="python -m exprflow.deploy.kubernetes", description=__doc__.split("\n")[0]
    )
    commands = parser.add_subparsers(dest="command", required=True)
    render = commands.add_parser("render", help="print a sharded step's Jobs")
    render.add_argument("--parent-run-id", required=True, help="from `submit`, or your own")
    submit = commands.add_parser("submit", help="create the parent run; write the Jobs")
    submit.add_argument("--experiment", default=None, help="default: MLFLOW_EXPERIMENT_NAME")
    backend = commands.add_parser("backend", help="MLflow's kubernetes backend, one step")
    backend.add_argument("--repository-uri", default="", help="default: registry/image name")
    backend.add_argument("--kube-context", default="")
    for sub in (render, submit, backend):
        sub.add_argument("--step", required=True)
        _cluster_arguments(sub)
    for sub in (render, submit):
        _shard_arguments(sub)
    for sub in (submit, backend):
        sub.add_argument("--out", type=Path, required=True, help="folder to write the files to")
    return parser


def _options(args: argparse.Namespace) -> ClusterOptions:
    sharded = (
        {
            "parallelism": args.parallelism,
            "backoff_limit_per_index": args.backoff_limit_per_index,
            "max_failed_indexes": args.max_failed_indexes,
        }
        if args.command != "backend"
        else {}
    )
    return ClusterOptions(
        namespace=args.namespace,
        image_registry=args.image_registry,
        image_tag=args.image_tag,
        secret=args.secret,
        data_claim=args.data_claim,
        data_mount=args.data_mount,
        gpus=args.gpus,
        gpu_toleration=args.gpu_toleration,
        gpu_node_selector=parse_sets(args.gpu_node_selector, "--gpu-node-selector"),
        cpu=args.cpu,
        memory=args.memory,
        ttl_seconds=args.ttl_seconds,
        backoff_limit=args.backoff_limit,
        **sharded,
    )


def _submission(
    args: argparse.Namespace, spec: StepSpec, parent_run_id: str
) -> list[dict[str, Any]]:
    """The shards' Job and the merge Job for ``parent_run_id``."""
    options = _options(args)
    overrides = parse_sets(args.set)
    shards = render_shards(
        spec, args.num_chunks, parent_run_id, overrides=overrides, options=options
    )
    merge = render_merge(
        spec, parent_run_id, overrides=parse_sets(args.merge_set, "--merge-set"), options=options
    )
    return [shards, merge]


def _write(path: Path, text: str) -> None:
    with atomic_path(path) as tmp:
        tmp.write_text(text)


def _check_server() -> str:
    """The tracking URI the pods must reach: refuse an unset or local store."""
    uri = os.environ.get("MLFLOW_TRACKING_URI", "")
    if urlparse(uri).scheme not in ("http", "https"):
        raise InputError(
            "environment variable MLFLOW_TRACKING_URI",
            f"{uri!r} is not a tracking server; the pods log to the server the parent run "
            "is created on.",
            fix="export MLFLOW_TRACKING_URI=https://mlflow.example.org (and "
            "MLFLOW_TRACKING_USERNAME / MLFLOW_TRACKING_PASSWORD): the URI the Secret holds.",
        )
    return uri


def _submit(args: argparse.Namespace, spec: StepSpec) -> str:
    """Create the parent run, write the manifests; return the commands to run them."""
    uri = _check_server()
    _submission(args, spec, _PROBE_RUN_ID)  # every option checked before a run exists
    params = shard_params(spec, args.num_chunks, parse_sets(args.set))
    parent = create_parent_run(
        spec.name,
        family=spec.family,
        task=spec.task,
        params=params,
        shards=args.num_chunks,
        experiment=args.experiment,
    )
    shards, merge = _submission(args, spec, parent)
    files = []
    for job in (shards, merge):
        path = (args.out / f"{job['metadata']['name']}.yaml").resolve()
        _write(path, to_yaml([job]))
        files.append((path, job["metadata"]["name"]))
    ns = f"-n {args.namespace}"
    (shards_file, shards_job), (merge_file, merge_job) = files
    return (
        f"# parent run {parent} on {uri}\n"
        f"kubectl apply -f {shards_file}\n"
        f"kubectl wait {ns} --for=condition=complete --timeout=24h job/{shards_job}\n"
        f"kubectl apply -f {merge_file}\n"
        f"kubectl wait {ns} --for=condition=complete --timeout=2h job/{merge_job}\n"
    )


def _backend(args: argparse.Namespace, spec: StepSpec) -> str:
    """Write the backend's Job template and config; return the ``mlflow run`` command."""
    options = _options(args)
    template = (args.out / f"{spec.target}-job-template.yaml").resolve()
    config = backend_config(
        spec,
        str(template),
        repository_uri=args.repository_uri,
        kube_context=args.kube_context,
        options=options,
    )
    config_path = (args.out / f"{spec.target}-backend-config.json").resolve()
    _write(template, to_yaml([render_backend_job(spec, options)]))
    _write(config_path, json.dumps(config, indent=2) + "\n")
    return (
        "# KUBE_MLFLOW_TRACKING_URI: the server's address as the pods reach it\n"
        f"mlflow run steps/{spec.name} -e {spec.name} --backend kubernetes "
        f"--backend-config {config_path} --build-image\n"
    )


def main(argv: Sequence[str] | None = None) -> int:
    """Run the command line; return the exit status (2 on bad input)."""
    args = _parser().parse_args(argv)
    try:
        spec = step_spec(args.step)
        if args.command == "render":
            sys.stdout.write(to_yaml(_submission(args, spec, args.parent_run_id)))
        elif args.command == "submit":
            sys.stdout.write(_submit(args, spec))
        else:
            sys.stdout.write(_backend(args, spec))
    except ExprflowError as err:
        sys.stderr.write(f"error: {err}\n")
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main())
