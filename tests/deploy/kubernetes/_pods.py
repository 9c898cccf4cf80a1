"""Run a rendered Job's pods as local processes: what a kubelet would start, minus the cluster.

Each pod's environment is built from the manifest alone: ``secretKeyRef`` entries from a
dict standing for the Secret, plain values as written (the data volume's mount path
mapped onto a local folder), ``JOB_COMPLETION_INDEX`` for an Indexed Job's pod; nothing is
inherited from the test's own environment but ``PATH``. The command runs as written, with
``python`` the test's interpreter.
"""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Mapping
from pathlib import Path
from typing import Any


def _container(job: Mapping[str, Any]) -> dict[str, Any]:
    (container,) = job["spec"]["template"]["spec"]["containers"]
    return container


def pod_environment(
    job: Mapping[str, Any], secret: Mapping[str, str], data_root: Path, index: int | None
) -> dict[str, str]:
    """The environment Kubernetes would give the pod of ``job`` with completion ``index``."""
    container = _container(job)
    mount = container["volumeMounts"][0]["mountPath"]
    env = {}
    for entry in container["env"]:
        if "valueFrom" in entry:
            env[entry["name"]] = secret[entry["valueFrom"]["secretKeyRef"]["key"]]
        else:
            value = entry["value"]
            env[entry["name"]] = str(data_root) + value[len(mount) :] if value == mount else value
    if job["spec"].get("completionMode") == "Indexed":
        assert index is not None
        env["JOB_COMPLETION_INDEX"] = str(index)
    return env


def run_pod(
    job: Mapping[str, Any],
    secret: Mapping[str, str],
    data_root: Path,
    workdir: Path,
    index: int | None = None,
) -> subprocess.CompletedProcess[str]:
    """Run the pod's container command in ``workdir``; return the finished process."""
    command = list(_container(job)["command"])
    assert command[0] == "python"
    env = pod_environment(job, secret, data_root, index)
    env.update(PATH=os.environ["PATH"], HOME=str(workdir), OMP_NUM_THREADS="1")
    workdir.mkdir(parents=True, exist_ok=True)
    return subprocess.run(
        [sys.executable, *command[1:]],
        env=env,
        cwd=workdir,
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
