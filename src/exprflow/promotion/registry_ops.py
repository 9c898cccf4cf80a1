"""MLflow Model Registry operations of the promotion: read versions, check them, move aliases.

Versions are addressed as ``models:/<name>/<version>``; aliases are ``@challenger`` and
``@champion`` (stages are never used). A version's metrics are its version tags that
parse as numbers, overridden by the metrics of the run that created it (full precision),
so both ``train_tissue``'s registered versions (run metrics and tags) and hand-registered
ones (tags only) can be compared. Decisions are written as version tags under
:data:`TAG` (see :func:`decision_tags`).
"""

from __future__ import annotations

import logging
import warnings
from collections.abc import Mapping
from typing import Final

import mlflow
from mlflow.entities.model_registry import ModelVersion
from mlflow.exceptions import MlflowException
from mlflow.models import validate_serving_input
from mlflow.models.utils import load_serving_example
from mlflow.protos.databricks_pb2 import RESOURCE_DOES_NOT_EXIST, ErrorCode
from mlflow.tracking import MlflowClient

from exprflow.promotion.decide import Decision, min_test_size_problem
from exprflow.promotion.policy import Checks

__all__ = [
    "CHALLENGER",
    "CHAMPION",
    "TAG",
    "alias_version",
    "check_input_example",
    "check_signature",
    "copy_champion",
    "decision_tags",
    "model_uri",
    "registered_model_exists",
    "run_checks",
    "set_alias",
    "tag_version",
    "version_metrics",
    "versions",
]

log = logging.getLogger(__name__)

#: Alias of the version under consideration.
CHALLENGER: Final = "challenger"
#: Alias of the version in service.
CHAMPION: Final = "champion"
#: Prefix of every promotion tag on a model version.
TAG: Final = "exprflow.promotion."
#: Parent-run links followed when looking for an ancestor run.
_MAX_DEPTH: Final = 32
#: Longest text kept in a tag or a check's message.
_MAX_TEXT: Final = 4000


def model_uri(name: str, version: str) -> str:
    """``models:/<name>/<version>``."""
    return f"models:/{name}/{version}"


def registered_model_exists(client: MlflowClient, name: str) -> bool:
    """Whether the registry holds a registered model called ``name``."""
    try:
        client.get_registered_model(name)
    except MlflowException as exc:
        if exc.error_code == ErrorCode.Name(RESOURCE_DOES_NOT_EXIST):
            return False
        raise
    return True


def versions(client: MlflowClient, name: str, parent_run: str = "") -> list[ModelVersion]:
    """The versions of ``name``, newest first, optionally only those made under a run.

    Parameters
    ----------
    client : MlflowClient
        Registry client.
    name : str
        Registered model name.
    parent_run : str, default ""
        Keep only versions whose run is this run or one of its descendants (followed
        through ``mlflow.parentRunId`` tags); empty: keep every version.

    Returns
    -------
    list of ModelVersion
        Newest (highest version number) first.
    """
    found = client.search_model_versions(f"name = '{name}'")
    ordered = sorted(found, key=lambda v: int(v.version), reverse=True)
    if not parent_run:
        return ordered
    cache: dict[str, bool] = {}
    return [v for v in ordered if v.run_id and _under(client, v.run_id, parent_run, cache)]


def _under(client: MlflowClient, run_id: str, parent: str, cache: dict[str, bool]) -> bool:
    """Whether ``run_id`` is ``parent`` or a descendant of it."""
    chain: list[str] = []
    current: str | None = run_id
    answer = False
    while current and len(chain) < _MAX_DEPTH:
        if current in cache:
            answer = cache[current]
            break
        chain.append(current)
        if current == parent:
            answer = True
            break
        try:
            current = client.get_run(current).data.tags.get("mlflow.parentRunId")
        except MlflowException:
            break
    cache.update(dict.fromkeys(chain, answer))
    return answer


def alias_version(client: MlflowClient, name: str, alias: str) -> ModelVersion | None:
    """The version ``name@alias`` points at; None when the alias is not set."""
    version = client.get_registered_model(name).aliases.get(alias)
    return None if version is None else client.get_model_version(name, str(version))


def set_alias(client: MlflowClient, name: str, alias: str, version: str) -> None:
    """Point ``name@alias`` at ``version`` (moving it from any other version)."""
    client.set_registered_model_alias(name, alias, version)
    log.info("%s@%s -> version %s", name, alias, version)


def tag_version(client: MlflowClient, name: str, version: str, tags: Mapping[str, str]) -> None:
    """Set every tag of ``tags`` on version ``version`` of ``name``."""
    for key, value in tags.items():
        client.set_model_version_tag(name, version, key, value[:_MAX_TEXT])


def version_metrics(client: MlflowClient, version: ModelVersion) -> dict[str, float]:
    """Numbers recorded for a version: its numeric tags, then its run's metrics over them.

    Parameters
    ----------
    client : MlflowClient
        Tracking and registry client.
    version : ModelVersion
        The version.

    Returns
    -------
    dict
        Name → value. A run that no longer exists contributes nothing.
    """
    values: dict[str, float] = {}
    for key, text in version.tags.items():
        try:
            values[key] = float(text)
        except (TypeError, ValueError):
            continue
    if version.run_id:
        try:
            values.update(client.get_run(version.run_id).data.metrics)
        except MlflowException:
            log.warning("run %s of %s/%s is gone", version.run_id, version.name, version.version)
    return values


def check_signature(uri: str) -> str | None:
    """The ``signature`` check: what is wrong with the model's signature, or None."""
    try:
        signature = mlflow.models.get_model_info(uri).signature
    except (MlflowException, OSError) as exc:
        return _short(f"signature: cannot read the model's MLmodel ({exc})")
    if signature is None:
        return "signature: the model has no signature"
    missing = [side for side in ("inputs", "outputs") if getattr(signature, side) is None]
    if missing:
        return f"signature: the model's signature has no {' and no '.join(missing)}"
    return None


def check_input_example(uri: str) -> str | None:
    """The ``input_example`` check: the stored serving example must pass validation.

    ``mlflow.models.validate_serving_input`` (deprecated since MLflow 3.13, its
    deprecation warning silenced here) loads the model and predicts the example as the
    scoring server would parse it.
    """
    try:
        example = load_serving_example(uri)
    except (MlflowException, OSError):
        return "input_example: the model stores no serving input example"
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", ".*validate_serving_input.*", FutureWarning)
        try:
            validate_serving_input(uri, example)
        except Exception as exc:  # any failure of the model is the check's answer
            return _short(
                f"input_example: the stored example fails validate_serving_input "
                f"({type(exc).__name__}: {exc})"
            )
    return None


def run_checks(uri: str, checks: Checks, metrics: Mapping[str, float]) -> dict[str, str | None]:
    """Run the policy's checks on a version.

    Parameters
    ----------
    uri : str
        ``models:/<name>/<version>``.
    checks : Checks
        Which checks the policy requires.
    metrics : Mapping[str, float]
        The version's numbers (:func:`version_metrics`), for ``min_test_size``.

    Returns
    -------
    dict
        Check name → None when passed, else what is wrong; only the required checks.
    """
    results: dict[str, str | None] = {}
    if checks.signature:
        results["signature"] = check_signature(uri)
    if checks.input_example:
        results["input_example"] = check_input_example(uri)
    if checks.min_test_size is not None:
        size = checks.min_test_size
        results["min_test_size"] = min_test_size_problem(
            metrics.get(size.key), size.key, size.minimum
        )
    return results


def decision_tags(
    decision: Decision,
    *,
    metric: str,
    champion_version: str | None,
    policy_digest: str,
    run_id: str,
) -> dict[str, str]:
    """The version tags recording a decision (all under :data:`TAG`).

    Parameters
    ----------
    decision : Decision
        What was decided.
    metric : str
        The deciding metric.
    champion_version : str or None
        The champion compared with; None when there was none.
    policy_digest : str
        SHA-256 of the policy file.
    run_id : str
        The ``promote`` run that decided.

    Returns
    -------
    dict
        ``decision``, ``reason``, ``metric``, ``candidate``, ``champion``,
        ``champion_version``, ``improvement``, ``policy_digest``, ``run_id``; absent
        values as ``none``.
    """
    return {
        TAG + "decision": decision.outcome,
        TAG + "reason": decision.reason,
        TAG + "metric": metric,
        TAG + "candidate": _number(decision.candidate),
        TAG + "champion": _number(decision.champion),
        TAG + "champion_version": champion_version or "none",
        TAG + "improvement": _number(decision.improvement),
        TAG + "policy_digest": policy_digest,
        TAG + "run_id": run_id,
    }


def copy_champion(client: MlflowClient, source: str, version: str, target: str) -> ModelVersion:
    """Copy ``source`` version ``version`` to ``target`` and make the copy ``@champion``.

    Uses ``MlflowClient.copy_model_version`` (``target`` is created if needed; the copy
    keeps the source's tags and gets tag ``exprflow.promotion.copied_from``). When
    ``target@champion`` is already a copy of that version, nothing is copied again.

    Parameters
    ----------
    client : MlflowClient
        Registry client.
    source : str
        Registered model copied from, e.g. ``dev.expecto``.
    version : str
        Its version to copy.
    target : str
        Registered model copied to, e.g. ``prod.expecto``.

    Returns
    -------
    ModelVersion
        The version of ``target`` that is now ``@champion``.
    """
    uri = model_uri(source, version)
    if registered_model_exists(client, target):
        current = alias_version(client, target, CHAMPION)
        if current is not None and current.tags.get(TAG + "copied_from") == uri:
            log.info("%s@%s is already a copy of %s", target, CHAMPION, uri)
            return current
    copy = client.copy_model_version(uri, target)
    client.set_model_version_tag(target, str(copy.version), TAG + "copied_from", uri)
    set_alias(client, target, CHAMPION, str(copy.version))
    return client.get_model_version(target, str(copy.version))


def _number(value: float | None) -> str:
    """A value as tag text: ``none`` when absent, else up to 10 significant digits."""
    return "none" if value is None else f"{value:.10g}"


def _short(text: str) -> str:
    """``text`` cut to what a tag holds."""
    return text if len(text) <= _MAX_TEXT else text[: _MAX_TEXT - 1] + "…"
