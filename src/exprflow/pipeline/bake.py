"""Render ``docker/docker-bake.json``: one bake target per step image, from the step specs.

``docker buildx bake -f docker/docker-bake.json`` builds every step's GPU image from
``docker/Dockerfile`` (target ``StepSpec.target``, tag ``StepSpec.image``) and the tracking
server's (``exprflow-tracking-server``); the variables
``REGISTRY`` (prefix such as ``ghcr.io/lab/``), ``TAG``, ``BASE_IMAGE`` and ``TENSORFLOW``
change every target at once, e.g. ``TAG=v1 REGISTRY=ghcr.io/lab/ docker buildx bake -f …``.
Generated with the MLproject files (``python -m exprflow.pipeline.mlproject --write``).
"""

from __future__ import annotations

import json
from collections.abc import Sequence

from exprflow.pipeline.spec import StepSpec

__all__ = ["BAKE_FILE", "SERVER_TARGET", "render_bake"]

BAKE_FILE = "docker/docker-bake.json"
#: The tracking server's image target (not a step).
SERVER_TARGET = "tracking-server"
_VARIABLES = {
    "REGISTRY": "",
    "TAG": "latest",
    "BASE_IMAGE": "docker.io/nvidia/cuda:12.8.1-base-ubuntu22.04",
    "TENSORFLOW": "tensorflow[and-cuda]",
}


def render_bake(steps: Sequence[StepSpec]) -> str:
    """The bake file: a ``default`` group of every step's target and the server's."""
    names = [spec.target for spec in steps] + [SERVER_TARGET]
    targets = {
        name: {
            "context": ".",
            "dockerfile": "docker/Dockerfile",
            "target": name,
            "tags": [f"${{REGISTRY}}exprflow-{name}:${{TAG}}"],
            "args": {"BASE_IMAGE": "${BASE_IMAGE}", "TENSORFLOW": "${TENSORFLOW}"},
        }
        for name in names
    }
    document = {
        "variable": {name: {"default": value} for name, value in _VARIABLES.items()},
        "group": {"default": {"targets": list(targets)}},
        "target": targets,
    }
    return json.dumps(document, indent=2) + "\n"
