"""The bake file builds every step's image from its Dockerfile target, one set of variables."""

from __future__ import annotations

import json
import re
from pathlib import Path

from exprflow.pipeline.bake import SERVER_TARGET, render_bake
from exprflow.pipeline.registry import STEPS

PROJECT_ROOT = Path(__file__).resolve().parents[2]


def test_every_step_has_a_target_tagged_with_its_image() -> None:
    bake = json.loads(render_bake(STEPS))
    assert bake["group"]["default"]["targets"] == [s.target for s in STEPS] + [SERVER_TARGET]
    assert bake["target"][SERVER_TARGET]["tags"] == ["${REGISTRY}exprflow-tracking-server:${TAG}"]
    for spec in STEPS:
        target = bake["target"][spec.target]
        assert target["target"] == spec.target
        assert target["dockerfile"] == "docker/Dockerfile"
        (tag,) = target["tags"]
        rendered = tag.replace("${REGISTRY}", "").replace("${TAG}", "latest")
        assert rendered == spec.image


def test_default_base_image_is_the_dockerfiles() -> None:
    bake = json.loads(render_bake(STEPS))
    dockerfile = (PROJECT_ROOT / "docker" / "Dockerfile").read_text()
    (default,) = re.findall(r"^ARG BASE_IMAGE=(\S+)$", dockerfile, re.MULTILINE)
    assert bake["variable"]["BASE_IMAGE"]["default"] == default
