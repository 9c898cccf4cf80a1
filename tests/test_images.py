"""The images: a Dockerfile target per step on its runtime stage, pins from pyproject.toml,
and (where podman is installed) a CPU build from a local base that runs a step through
MLflow's docker backend."""

from __future__ import annotations

import importlib.util
import os
import re
import shutil
import signal
import subprocess
import sys
import time
import tomllib
from collections.abc import Iterator
from pathlib import Path
from types import ModuleType

import pytest
from mlflow.entities import Run
from mlflow.tracking import MlflowClient

from exprflow.pipeline.registry import STEPS
from exprflow.pipeline.spec import RUNTIMES

PROJECT_ROOT = Path(__file__).resolve().parents[1]
DOCKERFILE = (PROJECT_ROOT / "docker" / "Dockerfile").read_text()
BIN = Path(sys.executable).parent
LOCAL = PROJECT_ROOT / "docker" / "local"


def _requirements_script() -> ModuleType:
    spec = importlib.util.spec_from_file_location(
        "requirements", PROJECT_ROOT / "docker" / "requirements.py"
    )
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_every_step_is_a_target_on_its_runtime_stage() -> None:
    stages = re.findall(r"^FROM (\S+) AS (\S+)$", DOCKERFILE, re.MULTILINE)
    targets = {name: base for base, name in stages}
    for spec in STEPS:
        assert f"FROM {spec.runtime} AS {spec.target}\n" in DOCKERFILE, spec.name
    for runtime in RUNTIMES:
        assert targets.get(runtime) == "deps", f"stage {runtime} must build on deps"


def test_stage_requirements_partition_the_pyproject_pins() -> None:
    script = _requirements_script()
    pins = tomllib.loads((PROJECT_ROOT / "pyproject.toml").read_text())["project"]["dependencies"]
    python = script.requirements(pins, "python", "tensorflow-cpu")
    torch = script.requirements(pins, "torch", "tensorflow-cpu")
    (tensorflow,) = script.requirements(pins, "tensorflow", "tensorflow[and-cuda]")
    assert torch == ["torch==2.13.0", "lightning==2.6.6"]  # Lightning would pull torch
    assert tensorflow == "tensorflow[and-cuda]==2.21.0"
    assert sorted([*python, *torch, "tensorflow-cpu==2.21.0"]) == sorted(pins)
    assert not any(p.startswith(("torch", "tensorflow", "lightning")) for p in python)


def test_the_server_stage_installs_the_server_extra_and_starts_the_server() -> None:
    pyproject = tomllib.loads((PROJECT_ROOT / "pyproject.toml").read_text())
    server = pyproject["project"]["optional-dependencies"]["server"]
    assert any(p.startswith("flask-wtf==") for p in server)  # MLflow's basic-auth app
    done = subprocess.run(
        [sys.executable, str(PROJECT_ROOT / "docker" / "requirements.py"), "server"],
        cwd=PROJECT_ROOT, capture_output=True, text=True, check=True,
    )  # fmt: skip
    assert done.stdout.split() == server
    assert "FROM deps AS tracking-server\n" in DOCKERFILE
    assert 'ENTRYPOINT ["python", "-m", "exprflow.deploy.server"]' in DOCKERFILE


_BLOCK_FRAMEWORKS = """
import importlib.abc, sys
class Block(importlib.abc.MetaPathFinder):
    def find_spec(self, name, path, target=None):
        if name.partition(".")[0] in ("torch", "tensorflow", "keras"):
            raise ImportError(f"{name} is not in the python image")
sys.meta_path.insert(0, Block())
"""


@pytest.mark.parametrize("spec", [s for s in STEPS if s.runtime == "python"], ids=lambda s: s.name)
def test_python_runtime_steps_import_without_a_framework(spec) -> None:  # type: ignore[no-untyped-def]
    code = _BLOCK_FRAMEWORKS + f"import {spec.module}; {spec.module}.main(['--help'])"
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    assert "usage:" in done.stdout


def _podman_missing() -> str | None:
    """Why the podman test cannot run here, or None."""
    if shutil.which("podman") is None:
        return "podman is not installed (docker/build-local.sh installs it on Debian as root)"
    if shutil.which("docker") is None:
        return (
            "no docker CLI: MLflow's docker backend calls `docker run` (podman-docker provides it)"
        )
    return None


needs_podman = pytest.mark.skipif(_podman_missing() is not None, reason=str(_podman_missing()))


@pytest.fixture(scope="module")
def podman_api(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """podman's Docker-compatible API on a private socket; its DOCKER_HOST."""
    socket = tmp_path_factory.mktemp("podman") / "podman.sock"
    env = {**os.environ, "CONTAINERS_CONF": str(LOCAL / "containers.conf")}
    service = subprocess.Popen(
        ["podman", "system", "service", "--time=0", f"unix://{socket}"],
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        start_new_session=True,
    )
    host = f"unix://{socket}"
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:  # the socket file appears before the API answers
        probe = subprocess.run(
            ["podman", "--url", host, "version"], env=env, capture_output=True, check=False
        )
        if probe.returncode == 0:
            break
        time.sleep(0.5)
    else:
        pytest.fail("podman system service did not answer on its socket in 60 s")
    yield host
    os.killpg(service.pid, signal.SIGTERM)
    service.wait(timeout=30)


@pytest.fixture(scope="module")
def simulate_image() -> str:
    """The CPU ``simulate`` image, built (or found up to date) by docker/build-local.sh."""
    build = subprocess.run(
        ["bash", str(PROJECT_ROOT / "docker" / "build-local.sh"), "simulate"],
        capture_output=True, text=True, timeout=3600,
    )  # fmt: skip
    assert build.returncode == 0, build.stdout[-4000:] + build.stderr[-4000:]
    return "exprflow-simulate:latest"


#: What an earlier test's MLflow session may have exported; `mlflow run` takes its own.
_RUN_VARIABLES = {"MLFLOW_RUN_ID", "MLFLOW_EXPERIMENT_ID", "MLFLOW_EXPERIMENT_NAME"}


def _run_simulate(
    podman_api: str, root: Path, size: str
) -> tuple[subprocess.CompletedProcess[str], Run]:
    """``mlflow run steps/simulate`` in its image with the data root shared; its only run."""
    data = root / "data"
    data.mkdir()
    store = f"sqlite:///{root / 'mlflow.db'}"
    env = {k: v for k, v in os.environ.items() if k not in _RUN_VARIABLES}
    env.update({"DOCKER_HOST": podman_api, "MLFLOW_TRACKING_URI": store})
    # docker/local/docker: podman's CLI as `docker`, which keeps `docker run --rm` exit codes.
    env["PATH"] = os.pathsep.join([str(LOCAL), str(BIN), env["PATH"]])
    command = [str(BIN / "mlflow"), "run", str(PROJECT_ROOT / "steps" / "simulate")]
    command += ["-e", "simulate", "-P", f"size={size}", "--experiment-name", "images"]
    command += ["-A", "network=host", "-A", f"v={data}:{data}"]
    command += ["-A", f"e=EXPRFLOW_DATA_ROOT={data}"]
    done = subprocess.run(command, env=env, capture_output=True, text=True, timeout=900)
    client = MlflowClient(store)
    (run,) = client.search_runs([client.get_experiment_by_name("images").experiment_id])
    return done, run


@pytest.mark.integration
@needs_podman
def test_simulate_runs_in_its_image_through_mlflow_docker_backend(
    podman_api: str, simulate_image: str, tmp_path: Path
) -> None:
    done, run = _run_simulate(podman_api, tmp_path, "tiny")
    assert done.returncode == 0, done.stdout[-4000:] + done.stderr[-4000:]
    assert run.info.status == "FINISHED"
    assert run.data.tags["mlflow.project.env"] == "docker"
    assert run.data.tags["mlflow.docker.image.uri"] == simulate_image
    world = Path(run.data.tags["exprflow.output.world"])
    assert world.is_relative_to(tmp_path / "data"), "the container wrote outside the data root"
    assert (world / "genome" / "genome.fa").exists()


@pytest.mark.integration
@needs_podman
def test_a_step_failing_in_its_image_fails_the_mlflow_run(
    podman_api: str, simulate_image: str, tmp_path: Path
) -> None:
    done, run = _run_simulate(podman_api, tmp_path, "galactic")
    assert done.returncode != 0
    assert run.info.status == "FAILED"
    assert "unknown world size 'galactic'" in done.stdout + done.stderr
