from __future__ import annotations

from pathlib import Path

import yaml

from exprflow.pipeline import mlproject
from exprflow.pipeline.registry import STEPS


def test_check_fails_on_drift_and_write_repairs(tmp_path: Path) -> None:
    assert mlproject.main(["--root", str(tmp_path), "--check"]) == 1
    assert mlproject.main(["--root", str(tmp_path), "--write"]) == 0
    assert mlproject.main(["--root", str(tmp_path), "--check"]) == 0
    step_file = tmp_path / "steps" / "prepare" / "MLproject"
    step_file.write_text(step_file.read_text().replace("default: ''", "default: x", 1))
    assert mlproject.main(["--root", str(tmp_path), "--check"]) == 1


def test_step_projects_name_their_image_and_share_the_top_level_parameters() -> None:
    top = yaml.safe_load(mlproject.render_top_project())
    for spec in STEPS:
        step = yaml.safe_load(mlproject.render_step_project(spec))
        assert step["docker_env"]["image"] == spec.image
        assert (
            step["entry_points"][spec.name]["parameters"]
            == (top["entry_points"][spec.name]["parameters"])
        )
        assert spec.defaults() == {
            name: p["default"] for name, p in top["entry_points"][spec.name]["parameters"].items()
        }
