"""Kubernetes manifests: every step has its template, each validates against the API schema.

Schema checks use kubernetes-validate's bundled JSON schemas in strict mode (no unknown
field) for the oldest Kubernetes the Jobs need (1.33: ``backoffLimitPerIndex`` and
``maxFailedIndexes`` GA) and the newest bundled. MLflow's backend template goes through
MLflow's own ``_get_kubernetes_job_definition`` with the step's real ``steps/<step>/MLproject``,
as ``mlflow run --backend kubernetes`` would, before it is validated.
"""

from __future__ import annotations

import dataclasses
import json
import re
import tomllib
from pathlib import Path
from typing import Any

import kubernetes_validate
import pytest
import yaml
from mlflow.projects._project_spec import load_project
from mlflow.projects.kubernetes import _get_kubernetes_job_definition, _get_run_command
from mlflow.projects.utils import get_entry_point_command, get_run_env_vars

from exprflow.deploy.kubernetes.__main__ import main
from exprflow.deploy.kubernetes.command import resolve_params, step_command, step_spec
from exprflow.deploy.kubernetes.options import GPU_RESOURCE, SECRET_KEYS, ClusterOptions
from exprflow.deploy.kubernetes.render import (
    backend_config,
    render_backend_job,
    render_merge,
    render_shards,
    to_yaml,
)
from exprflow.errors import InputError
from exprflow.pipeline.registry import STEPS
from exprflow.pipeline.spec import StepSpec
from exprflow.steps._cli import parse_params

PROJECT_ROOT = Path(__file__).resolve().parents[3]
#: The oldest Kubernetes the Indexed Jobs need, and the newest schema bundled.
VERSIONS = ("1.33.0", f"{kubernetes_validate.latest_version()}.0")
PARENT = "0123456789abcdef0123456789abcdef"
SHARDED = [spec for spec in STEPS if spec.merged_by]
_DNS_LABEL = re.compile(r"[a-z0-9]([-a-z0-9]{0,61}[a-z0-9])?")


def _validate(manifest: dict[str, Any]) -> None:
    for version in VERSIONS:
        kubernetes_validate.validate(manifest, version, strict=True)


def _container(job: dict[str, Any]) -> dict[str, Any]:
    (container,) = job["spec"]["template"]["spec"]["containers"]
    return container


def _env(job: dict[str, Any]) -> dict[str, dict[str, Any]]:
    return {entry["name"]: entry for entry in _container(job)["env"]}


def _flags(command: list[str]) -> list[str]:
    return [arg.removeprefix("--").partition("=")[0] for arg in command[3:]]


def test_at_least_one_step_is_sharded() -> None:
    assert [spec.name for spec in SHARDED] == ["embed_basenji2", "expecto_personalized"]


@pytest.mark.parametrize("spec", SHARDED, ids=lambda s: s.name)
def test_every_sharded_step_renders_its_indexed_job_and_merge_job(spec: StepSpec) -> None:
    names = {f.name for f in dataclasses.fields(spec.params)}
    assert {"num_chunks", "chunk_index"} <= names, "a sharded step takes its chunk"
    merge = step_spec(spec.merged_by)  # an existing step…
    assert spec.name in {step for step, _ in merge.upstream.values()}  # …that reads the shards

    shards = render_shards(spec, 8, PARENT)
    _validate(shards)
    job = shards["spec"]
    assert job["completionMode"] == "Indexed"
    assert (job["completions"], job["parallelism"], job["maxFailedIndexes"]) == (8, 8, 8)
    assert job["backoffLimitPerIndex"] == 2 and "backoffLimit" not in job
    assert job["template"]["spec"]["restartPolicy"] == "Never"
    container = _container(shards)
    assert container["image"] == spec.image
    assert container["command"][:3] == ["python", "-m", spec.module]
    assert "--num_chunks=8" in container["command"]
    assert "--chunk_index=-1" in container["command"]  # JOB_COMPLETION_INDEX decides
    assert container["resources"]["limits"][GPU_RESOURCE] == 1
    env = _env(shards)
    assert env["EXPRFLOW_PARENT_RUN_ID"]["value"] == PARENT
    assert env["EXPRFLOW_DATA_ROOT"]["value"] == container["volumeMounts"][0]["mountPath"]
    assert "JOB_COMPLETION_INDEX" not in env  # set by Kubernetes in each pod

    merged = render_merge(spec, PARENT)
    _validate(merged)
    assert merged["spec"]["backoffLimit"] == 2 and "completionMode" not in merged["spec"]
    assert _container(merged)["image"] == merge.image
    assert GPU_RESOURCE not in _container(merged)["resources"]["limits"]
    assert _env(merged)["EXPRFLOW_PARENT_RUN_ID"]["value"] == PARENT
    assert shards["metadata"]["name"] == f"{spec.target}-{PARENT[:8]}"
    assert merged["metadata"]["name"] == f"{merge.target}-{PARENT[:8]}"


@pytest.mark.parametrize("spec", SHARDED, ids=lambda s: s.name)
def test_the_commands_flags_are_exactly_the_step_parameters(spec: StepSpec) -> None:
    shards = _container(render_shards(spec, 3, PARENT, overrides={"work_dir": "/data/w"}))
    fields = [f.name for f in dataclasses.fields(spec.params)]
    assert _flags(shards["command"]) == fields
    parsed = parse_params(spec.params, shards["command"][3:])
    assert parsed == spec.params(**{"num_chunks": 3, "chunk_index": -1, "work_dir": "/data/w"})

    merge = step_spec(spec.merged_by)
    command = _container(render_merge(spec, PARENT, overrides={"output": "/data/x.tsv"}))["command"]
    assert _flags(command) == [f.name for f in dataclasses.fields(merge.params)]
    assert parse_params(merge.params, command[3:]) == merge.params(output="/data/x.tsv")


def _mlflow_job(
    spec: StepSpec, tracking_uri: str, options: ClusterOptions | None = None
) -> dict[str, Any]:
    """The Job MLflow's kubernetes backend would create from our template for ``spec``."""
    project = load_project(str(PROJECT_ROOT / "steps" / spec.name))
    command = get_entry_point_command(project, spec.name, {}, str(Path.cwd()))
    env = get_run_env_vars(run_id=PARENT, experiment_id="1")
    assert env["MLFLOW_TRACKING_URI"] == tracking_uri
    template = yaml.safe_load(to_yaml([render_backend_job(spec, options)]))
    return _get_kubernetes_job_definition(
        project.name,
        f"ghcr.io/lab/exprflow-{spec.target}:abc1234",
        "sha256:" + "0" * 64,
        _get_run_command(command),
        env,
        template,
    )


@pytest.mark.parametrize("spec", STEPS, ids=lambda s: s.name)
def test_every_step_has_a_backend_template_mlflow_turns_into_a_valid_job(
    spec: StepSpec, tracking: str
) -> None:
    template = render_backend_job(spec)
    _validate(template)
    assert template["metadata"]["namespace"] == "exprflow"
    gpus = template["spec"]["template"]["spec"]["containers"][0]["resources"]["limits"]
    assert gpus.get(GPU_RESOURCE, 0) == (0 if spec.runtime == "python" else 1)

    job = _mlflow_job(spec, tracking)
    _validate(job)
    env = [entry["name"] for entry in _container(job)["env"]]
    assert len(env) == len(set(env)), "MLflow's env must not repeat the template's"
    assert {"MLFLOW_RUN_ID", "MLFLOW_TRACKING_URI", "MLFLOW_TRACKING_PASSWORD"} <= set(env)


def test_mlflow_names_the_job_and_container_validly(tracking: str) -> None:
    """Kubernetes refuses names with ``_``: MLflow names both after the MLproject's name."""
    bad = []
    for spec in STEPS:
        job = _mlflow_job(spec, tracking)
        names = [job["metadata"]["name"], _container(job)["name"]]
        bad += [name for name in names if not _DNS_LABEL.fullmatch(name)]
    assert not bad, f"not DNS-1123 labels (steps/<step>/MLproject name): {bad}"


def test_the_backend_command_parses_to_the_step_defaults(tracking: str) -> None:
    """MLflow shell-quotes every token it hands the container, and no shell removes them."""
    wrong = {}
    for spec in STEPS:
        command = _container(_mlflow_job(spec, tracking))["command"]
        assert command[:3] == ["python", "-m", spec.module]
        parsed = dataclasses.asdict(parse_params(spec.params, command[3:]))
        wrong.update({f"{spec.name}.{k}": v for k, v in parsed.items() if v != spec.defaults()[k]})
    assert not wrong, f"parameters that reach the step changed: {wrong}"


def test_no_secret_value_reaches_a_manifest(monkeypatch: pytest.MonkeyPatch, tracking: str) -> None:
    planted = "planted-s3cr3t-9f27"
    for name in ("MLFLOW_TRACKING_USERNAME", "MLFLOW_TRACKING_PASSWORD", "AWS_SECRET_ACCESS_KEY"):
        monkeypatch.setenv(name, f"{planted}-{name}")
    options = ClusterOptions(secret="lab-tracking")
    manifests = [render_shards(spec, 4, PARENT, options=options) for spec in SHARDED]
    manifests += [render_merge(spec, PARENT, options=options) for spec in SHARDED]
    manifests += [render_backend_job(spec, options) for spec in STEPS]
    manifests += [_mlflow_job(spec, tracking, options) for spec in STEPS]
    assert planted not in to_yaml(manifests)
    for manifest in manifests:
        env = _env(manifest)
        for key in SECRET_KEYS:
            if key in env and not (key == "MLFLOW_TRACKING_URI" and "value" in env[key]):
                assert env[key] == {
                    "name": key,
                    "valueFrom": {"secretKeyRef": {"name": "lab-tracking", "key": key}},
                }
        assert {"MLFLOW_TRACKING_USERNAME", "MLFLOW_TRACKING_PASSWORD"} <= set(env)


def test_options_change_image_resources_and_scheduling() -> None:
    options = ClusterOptions(
        namespace="genomics",
        image_registry="ghcr.io/lab/",
        image_tag="v1",
        data_claim="scratch",
        data_mount="/mnt/scratch",
        gpus=2,
        gpu_toleration=True,
        gpu_node_selector={"pool": "a100"},
        cpu="500m",
        memory="64Gi",
        parallelism=50,
        max_failed_indexes=3,
    )
    shards = render_shards("expecto_personalized", 20, PARENT, options=options)
    _validate(shards)
    assert shards["metadata"]["namespace"] == "genomics"
    assert (shards["spec"]["parallelism"], shards["spec"]["maxFailedIndexes"]) == (20, 3)
    pod = shards["spec"]["template"]["spec"]
    container = _container(shards)
    assert container["image"] == "ghcr.io/lab/exprflow-expecto-personalized:v1"
    assert container["resources"] == {
        "requests": {"cpu": "500m", "memory": "64Gi"},
        "limits": {"memory": "64Gi", GPU_RESOURCE: 2},
    }
    assert pod["tolerations"] == [
        {"key": GPU_RESOURCE, "operator": "Exists", "effect": "NoSchedule"}
    ]
    assert pod["nodeSelector"] == {"pool": "a100"}
    assert pod["volumes"][0]["persistentVolumeClaim"]["claimName"] == "scratch"
    assert _env(shards)["EXPRFLOW_DATA_ROOT"]["value"] == "/mnt/scratch"
    merge_pod = render_merge("expecto_personalized", PARENT, options=options)["spec"]["template"]
    assert "tolerations" not in merge_pod["spec"] and "nodeSelector" not in merge_pod["spec"]
    cpu_only = ClusterOptions(gpus=0)
    limits = _container(render_shards("expecto_personalized", 2, PARENT, options=cpu_only))
    assert GPU_RESOURCE not in limits["resources"]["limits"]


def test_backend_config_names_the_template_and_repository() -> None:
    options = ClusterOptions(image_registry="ghcr.io/lab")
    assert backend_config("train_tissue", "/k8s/t.yaml", options=options) == {
        "kube-job-template-path": "/k8s/t.yaml",
        "repository-uri": "ghcr.io/lab/exprflow-train-tissue",
    }
    explicit = backend_config("simulate", "/t.yaml", repository_uri="r/x", kube_context="prod")
    assert explicit == {
        "kube-job-template-path": "/t.yaml",
        "repository-uri": "r/x",
        "kube-context": "prod",
    }
    with pytest.raises(InputError, match="no --image-registry"):
        backend_config("simulate", "/t.yaml")


@pytest.mark.parametrize(
    ("call", "message"),
    [
        (lambda: render_shards("nope", 2, PARENT), r"--step: no step 'nope'; expected one of"),
        (lambda: render_shards("simulate", 2, PARENT), "step simulate is not sharded"),
        (lambda: render_merge("simulate", PARENT), "step simulate is not sharded"),
        (
            lambda: render_shards("expecto_personalized", 2, PARENT, overrides={"foo": "1"}),
            r"--set: step expecto_personalized has no parameter 'foo'; its parameters: world,",
        ),
        (
            lambda: render_shards("expecto_personalized", 2, PARENT, overrides={"batch_size": "x"}),
            r"parameter batch_size='x' is not 'int'",
        ),
        (
            lambda: render_shards("expecto_personalized", 2, PARENT, overrides={"num_chunks": "4"}),
            r"num_chunks is set by the deployment \(2\)",
        ),
        (
            lambda: render_shards(
                "expecto_personalized", 2, PARENT, overrides={"chunk_index": "0"}
            ),
            r"chunk_index is set by the deployment \(-1\)",
        ),
        (
            lambda: render_merge("expecto_personalized", PARENT, overrides={"vcf": "x"}),
            r"--merge-set: step expecto_merge has no parameter 'vcf'",
        ),
        (lambda: render_shards("expecto_personalized", 0, PARENT), r"num_chunks: 0; expected"),
        (
            lambda: render_shards("expecto_personalized", 100_001, PARENT),
            r"expected an integer >= 1 and <= 100000",
        ),
        (lambda: render_shards("expecto_personalized", 2, "run-1"), "not an MLflow run id"),
        (lambda: ClusterOptions(namespace="Lab_1"), "namespace: 'Lab_1' is not a DNS-1123"),
        (lambda: ClusterOptions(memory="16 GB"), "memory: '16 GB' is not a Kubernetes quantity"),
        (lambda: ClusterOptions(gpus=-1), r"gpus: -1; expected an integer >= 0"),
        (lambda: ClusterOptions(data_mount="data"), "'data' is not an absolute path"),
        (
            lambda: render_shards(
                "expecto_personalized", 2, PARENT, options=ClusterOptions(max_failed_indexes=3)
            ),
            r"max_failed_indexes: 3; expected an integer >= 0 and <= 2",
        ),
        (
            lambda: render_shards(
                "expecto_personalized", 2, PARENT, options=ClusterOptions(parallelism=0)
            ),
            r"parallelism: 0; expected an integer >= 1",
        ),
        (
            lambda: step_command(step_spec("expecto_merge"), {"output": "x"}),
            r"expected exactly \['genes', 'output', 'work_dir'\]",
        ),
    ],
)
def test_bad_input_is_refused_with_its_name(call: Any, message: str) -> None:
    with pytest.raises(InputError, match=message):
        call()


def test_overrides_are_typed_and_the_fixed_values_win() -> None:
    spec = step_spec("expecto_personalized")
    params = resolve_params(spec, {"batch_size": "64", "dtype": "bf16"}, fixed={"num_chunks": 5})
    assert (params["batch_size"], params["dtype"], params["num_chunks"]) == (64, "bf16", 5)
    assert list(params) == [f.name for f in dataclasses.fields(spec.params)]


def test_cli_render_prints_the_shards_and_merge_jobs(capsys: pytest.CaptureFixture[str]) -> None:
    argv = ["render", "--step", "expecto_personalized", "--num-chunks", "4", "--parent-run-id"]
    argv += [PARENT, "--set", "genes_per_batch=8", "--merge-set", "output=/data/p.tsv.gz"]
    argv += ["--image-registry", "ghcr.io/lab", "--gpu-node-selector", "pool=gpu"]
    assert main(argv) == 0
    shards, merge = yaml.safe_load_all(capsys.readouterr().out)
    options = ClusterOptions(image_registry="ghcr.io/lab", gpu_node_selector={"pool": "gpu"})
    expected = render_shards(
        "expecto_personalized", 4, PARENT, overrides={"genes_per_batch": "8"}, options=options
    )
    assert shards == expected
    overrides = {"output": "/data/p.tsv.gz"}
    assert merge == render_merge(
        "expecto_personalized", PARENT, overrides=overrides, options=options
    )


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (["--step", "simulate", "--num-chunks", "2"], "step simulate is not sharded"),
        (["--step", "expecto_personalized", "--num-chunks", "2", "--set", "x"], "'x' is not name"),
        (
            ["--step", "expecto_personalized", "--num-chunks", "2", "--gpu-node-selector", "a"],
            "argument --gpu-node-selector: 'a' is not name=value",
        ),
    ],
)
def test_cli_refuses_bad_input_with_status_2(
    argv: list[str], message: str, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["render", "--parent-run-id", PARENT, *argv]) == 2
    captured = capsys.readouterr()
    assert message in captured.err and captured.out == ""


def test_cli_submit_needs_a_tracking_server(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv("MLFLOW_TRACKING_URI", f"sqlite:///{tmp_path / 'mlflow.db'}")
    argv = ["submit", "--step", "expecto_personalized", "--num-chunks", "2", "--out"]
    assert main([*argv, str(tmp_path / "k8s")]) == 2
    assert "is not a tracking server" in capsys.readouterr().err
    assert not (tmp_path / "k8s").exists() and not (tmp_path / "mlflow.db").exists()


def test_cli_backend_writes_the_template_and_config(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    argv = ["backend", "--step", "train_tissue", "--out", str(tmp_path), "--namespace", "lab"]
    assert main([*argv, "--image-registry", "ghcr.io/lab", "--kube-context", "prod"]) == 0
    config = json.loads((tmp_path / "train-tissue-backend-config.json").read_text())
    template = tmp_path / "train-tissue-job-template.yaml"
    assert config == {
        "kube-job-template-path": str(template),
        "repository-uri": "ghcr.io/lab/exprflow-train-tissue",
        "kube-context": "prod",
    }
    options = ClusterOptions(namespace="lab", image_registry="ghcr.io/lab")
    assert yaml.safe_load(template.read_text()) == render_backend_job("train_tissue", options)
    out = capsys.readouterr().out
    assert "mlflow run steps/train_tissue -e train_tissue --backend kubernetes" in out
    assert f"--backend-config {tmp_path / 'train-tissue-backend-config.json'}" in out


def test_the_templates_ship_with_the_package() -> None:
    """A wheel (what the images install) holds only the package data pyproject.toml lists."""
    pyproject = tomllib.loads((PROJECT_ROOT / "pyproject.toml").read_text())
    data = pyproject["tool"]["setuptools"].get("package-data", {})
    assert "exprflow.deploy.kubernetes" in data, (
        "pyproject.toml: list the templates as package-data"
    )
    globs = data["exprflow.deploy.kubernetes"]
    package = PROJECT_ROOT / "src" / "exprflow" / "deploy" / "kubernetes"
    templates = sorted(p.relative_to(package) for p in (package / "templates").iterdir())
    assert [p.as_posix() for p in templates] == [
        "templates/indexed-job.yaml",
        "templates/merge-job.yaml",
        "templates/mlflow-job.yaml",
    ]
    assert all(any(p.match(glob) for glob in globs) for p in templates), globs


def test_the_manifests_in_the_docs_are_valid() -> None:
    text = (PROJECT_ROOT / "docker" / "kubernetes.md").read_text()
    blocks = re.findall(r"```yaml\n(.*?)```", text, flags=re.DOTALL)
    assert blocks
    for block in blocks:
        _validate(yaml.safe_load(block))
