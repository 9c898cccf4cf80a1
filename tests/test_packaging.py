"""The install files agree with one another: one dependency list, one set of step params."""

from __future__ import annotations

import tomllib
from pathlib import Path

import yaml

from exprflow.pipeline.mlproject import rendered_files

PROJECT_ROOT = Path(__file__).resolve().parents[1]


def test_conda_env_pins_exactly_the_pyproject_dependencies() -> None:
    pyproject = tomllib.loads((PROJECT_ROOT / "pyproject.toml").read_text())
    conda = yaml.safe_load((PROJECT_ROOT / "conda.yaml").read_text())
    (pip_section,) = [d for d in conda["dependencies"] if isinstance(d, dict)]
    assert pip_section["pip"] == pyproject["project"]["dependencies"]
    assert "python=3.11" in conda["dependencies"]


def test_every_dependency_is_pinned() -> None:
    pyproject = tomllib.loads((PROJECT_ROOT / "pyproject.toml").read_text())
    deps = (
        pyproject["project"]["dependencies"] + pyproject["project"]["optional-dependencies"]["dev"]
    )
    assert all("==" in d for d in deps), [d for d in deps if "==" not in d]


def test_mlproject_files_match_the_step_dataclasses() -> None:
    for relative, content in rendered_files().items():
        path = PROJECT_ROOT / relative
        assert path.exists(), f"{relative} missing: run `make mlproject`"
        assert path.read_text() == content, f"{relative} drifted: run `make mlproject`"


def test_readme_test_command_is_what_ci_runs() -> None:
    readme = (PROJECT_ROOT / "README.md").read_text()
    ci = (PROJECT_ROOT / ".ci" / "run").read_text()
    assert "make test" in readme and "make test" in ci
    assert "make run" in readme
