"""Entry point ``promote``: move ``@champion`` by the promotion policy, and record why.

For each model of the policy (``registry/policy.yaml``, see
:mod:`exprflow.promotion.policy`): the chosen version of ``<source_prefix><name>`` (the
newest, or ``version``; only versions made under ``parent_run`` when given) gets alias
``@challenger``; it runs the policy's checks (signature, serving input example,
minimum test-set size); its deciding metric is compared with ``@champion``'s
(:func:`exprflow.promotion.decide.decide`). When it passes the checks and beats the
champion by at least the minimum improvement, or there is no champion, it becomes
``@champion`` and ``@challenger`` is removed; the replaced champion keeps its version and
gets tags ``exprflow.promotion.replaced_by`` / ``replaced_by_run``. Otherwise nothing
moves and the version stays ``@challenger``. A version that already is the champion is
left as it is. Stages are never used.

With ``target_prefix``, the champion of ``<source_prefix><name>`` (after the decision) is
copied to ``<target_prefix><name>`` with ``MlflowClient.copy_model_version`` and made
``@champion`` there (once: a champion that already is its copy is kept).

Inputs:
    ``policy`` — the policy YAML (path relative to the working folder or the project
    root, or a URI), recorded as a dataset input (its digest is the file's SHA-256).
Step parameters:
    ``models`` comma-separated policy names (empty: every policy model present in the
    registry); ``version`` a version number (only with one model); ``source_prefix`` /
    ``target_prefix`` environment prefixes, e.g. ``dev.`` / ``prod.``; ``parent_run``
    a run id.
Records:
    on the candidate version, tags ``exprflow.promotion.{decision, reason, metric,
    candidate, champion, champion_version, improvement, policy_digest, run_id}``
    (decision ``promoted``, ``kept`` or ``failed_checks``); on the run, metrics
    ``<name>.candidate``, ``<name>.champion``, ``<name>.improvement`` (finite values
    only), tags ``exprflow.promotion.decision.<name>`` = the decision and
    ``exprflow.promotion.policy_digest``.
Outputs:
    ``decisions`` — ``runs:/<id>/promotion/decisions.json``: a list, one object per model
    with keys ``model``, ``registered_model``, ``version``, ``decision``, ``reason``,
    ``model_uri``, ``metric``, ``direction``, ``min_improvement``, ``candidate``, ``champion``,
    ``champion_version``, ``improvement``, ``checks`` (name → ``"passed"`` or the
    problem), ``champion_after`` (version or null), ``copied_to`` (``models:/…`` or
    null); decision ``nothing_to_promote`` for a model without versions. Beside it
    ``decisions.md``, the same as a Markdown table.
"""

from __future__ import annotations

import json
import logging
import math
import re
import tempfile
from collections.abc import Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import mlflow
from mlflow.entities.model_registry import ModelVersion
from mlflow.tracking import MlflowClient

from exprflow.atomic import atomic_path
from exprflow.errors import InputError
from exprflow.pipeline.spec import StepSpec
from exprflow.promotion import registry_ops as ops
from exprflow.promotion.decide import NOTHING_TO_PROMOTE, PROMOTED, Decision, Entry, decide
from exprflow.promotion.policy import (
    DEFAULT_POLICY,
    ModelPolicy,
    Policy,
    load_policy,
    resolve_policy_path,
)
from exprflow.steps._cli import parse_params, setup_logging, split_list
from exprflow.tracking.step import StepContext, step_run
from exprflow.tracking.uris import is_remote

__all__ = ["STEP", "PromoteParams", "main", "run"]

log = logging.getLogger(__name__)

_PARAMS = "promote parameters"
_PREFIX = re.compile(r"^[A-Za-z0-9_.\-]*$")
#: Run tag prefix: ``exprflow.promotion.decision.<model>`` = the model's decision.
_RUN_TAG = ops.TAG + "decision."


@dataclass(frozen=True)
class PromoteParams:
    """Parameters of the ``promote`` step."""

    policy: str = field(default=DEFAULT_POLICY, metadata={"help": "promotion policy YAML"})
    models: str = field(default="", metadata={"help": "comma-separated names; empty: all"})
    version: str = field(default="", metadata={"help": "version to consider; empty: newest"})
    source_prefix: str = field(default="", metadata={"help": "registry prefix, e.g. dev."})
    target_prefix: str = field(default="", metadata={"help": "copy champion to, e.g. prod."})
    parent_run: str = field(default="", metadata={"help": "only versions made under this run"})


STEP = StepSpec(
    name="promote",
    params=PromoteParams,
    family="pipeline",
    task="promotion",
    outputs=("decisions",),
    cacheable=False,
)


@dataclass(frozen=True)
class _Plan:
    """A model to decide on: its policy, its registered name and the candidate version."""

    policy: ModelPolicy
    registered: str
    candidate: ModelVersion | None
    why_none: str = ""


def _check_params(params: PromoteParams) -> None:
    for name in ("source_prefix", "target_prefix"):
        if not _PREFIX.match(getattr(params, name)):
            raise InputError(
                _PARAMS,
                f"{name}={getattr(params, name)!r}.",
                record=name,
                fix="use letters, digits, '_', '-' and '.' only, e.g. 'dev.'.",
            )
    if params.target_prefix and params.target_prefix == params.source_prefix:
        raise InputError(
            _PARAMS,
            f"target_prefix equals source_prefix ({params.source_prefix!r}).",
            record="target_prefix",
            fix="copy to another environment, e.g. 'prod.'.",
        )
    if params.version and not params.version.isdigit():
        raise InputError(
            _PARAMS,
            f"version={params.version!r}.",
            record="version",
            fix="give a version number, e.g. 3, or leave it empty for the newest.",
        )
    if params.version and len(split_list(params.models)) != 1:
        raise InputError(
            _PARAMS,
            f"version={params.version!r} with models={params.models!r}.",
            record="version",
            fix="name exactly one model with -P models=<name>.",
        )


def _chosen(client: MlflowClient, policy: Policy, params: PromoteParams) -> list[ModelPolicy]:
    """The policies to act on, refusing named models missing from the policy or registry."""
    models = policy.models
    if not params.models:
        present = [
            m
            for name, m in models.items()
            if ops.registered_model_exists(client, params.source_prefix + name)
        ]
        if not present:
            log.warning("none of the policy's models is registered: %s", ", ".join(models))
        return present
    chosen = []
    for name in dict.fromkeys(split_list(params.models)):
        if name not in models:
            raise InputError(
                policy.path,
                f"has no entry for model {name!r}, named by -P models "
                f"(it lists {', '.join(models)}).",
                record="models",
                fix="add the model to the policy file or drop it from -P models.",
            )
        if not ops.registered_model_exists(client, params.source_prefix + name):
            raise InputError(
                mlflow.get_registry_uri(),
                f"no registered model {params.source_prefix + name!r}.",
                record="models",
                fix="register a version first, or check source_prefix.",
            )
        chosen.append(models[name])
    return chosen


def _plan(client: MlflowClient, policy: ModelPolicy, params: PromoteParams) -> _Plan:
    """Find the candidate version of one model (reads only)."""
    registered = params.source_prefix + policy.name
    found = ops.versions(client, registered, params.parent_run)
    under = f" made under run {params.parent_run}" if params.parent_run else ""
    if params.version:
        match = [v for v in found if str(v.version) == params.version]
        if not match:
            raise InputError(
                mlflow.get_registry_uri(),
                f"{registered} has no version {params.version}{under}.",
                record="version",
                fix="give an existing version, or leave version empty.",
            )
        return _Plan(policy, registered, match[0])
    if not found:
        return _Plan(policy, registered, None, f"{registered} has no version{under}.")
    return _Plan(policy, registered, found[0])


def _decide(client: MlflowClient, plan: _Plan, digest: str, run_id: str) -> dict[str, Any]:
    """Check, compare, move aliases and tag versions for one model; return its record."""
    policy, name, candidate = plan.policy, plan.registered, plan.candidate
    champion = ops.alias_version(client, name, ops.CHAMPION)
    if candidate is None:
        return _record(plan, Decision(NOTHING_TO_PROMOTE, plan.why_none), champion, {})
    number = str(candidate.version)
    metrics = ops.version_metrics(client, candidate)
    ours = Entry(number, metrics.get(policy.metric))
    theirs = None
    if champion is not None:
        champion_metrics = ops.version_metrics(client, champion)
        theirs = Entry(str(champion.version), champion_metrics.get(policy.metric))
        if theirs.version == number:
            return _record(plan, _compare(policy, ours, theirs), champion, {})
    ops.set_alias(client, name, ops.CHALLENGER, number)
    checks = ops.run_checks(ops.model_uri(name, number), policy.checks, metrics)
    decision = _compare(policy, ours, theirs, [problem for problem in checks.values() if problem])
    tags = ops.decision_tags(
        decision,
        metric=policy.metric,
        champion_version=None if theirs is None else theirs.version,
        policy_digest=digest,
        run_id=run_id,
    )
    ops.tag_version(client, name, number, tags)
    if decision.outcome == PROMOTED:
        _promote(client, name, number, theirs, run_id)
    log.info("%s version %s: %s; %s", name, number, decision.outcome, decision.reason)
    return _record(plan, decision, champion, checks)


def _compare(
    policy: ModelPolicy, ours: Entry, theirs: Entry | None, failures: Sequence[str] = ()
) -> Decision:
    """:func:`~exprflow.promotion.decide.decide` under one model's policy."""
    return decide(
        ours,
        theirs,
        metric=policy.metric,
        direction=policy.direction,
        min_improvement=policy.min_improvement,
        failures=failures,
    )


def _promote(client: MlflowClient, name: str, version: str, old: Entry | None, run_id: str) -> None:
    """Make ``version`` the champion, drop its challenger alias, mark the old champion."""
    ops.set_alias(client, name, ops.CHAMPION, version)
    client.delete_registered_model_alias(name, ops.CHALLENGER)
    if old is not None:
        replaced = {ops.TAG + "replaced_by": version, ops.TAG + "replaced_by_run": run_id}
        ops.tag_version(client, name, old.version, replaced)


def _record(
    plan: _Plan,
    decision: Decision,
    champion: ModelVersion | None,
    checks: dict[str, str | None],
) -> dict[str, Any]:
    """One model's entry of ``decisions.json`` (``champion_after``/``copied_to`` come later)."""
    version = None if plan.candidate is None else str(plan.candidate.version)
    return {
        "model": plan.policy.name,
        "registered_model": plan.registered,
        "version": version,
        "model_uri": None if version is None else ops.model_uri(plan.registered, version),
        "decision": decision.outcome,
        "reason": decision.reason,
        "metric": plan.policy.metric,
        "direction": plan.policy.direction,
        "min_improvement": plan.policy.min_improvement,
        "candidate": _json_number(decision.candidate),
        "champion": _json_number(decision.champion),
        "champion_version": None if champion is None else str(champion.version),
        "improvement": _json_number(decision.improvement),
        "checks": {name: problem or "passed" for name, problem in checks.items()},
    }


def _json_number(value: float | None) -> float | None:
    """A finite value, else None (JSON has no NaN)."""
    return value if value is not None and math.isfinite(value) else None


def _copy(client: MlflowClient, record: dict[str, Any], params: PromoteParams) -> None:
    """Record the champion after the decision; copy it to the target environment."""
    champion = ops.alias_version(client, record["registered_model"], ops.CHAMPION)
    record["champion_after"] = None if champion is None else str(champion.version)
    record["copied_to"] = None
    if not params.target_prefix:
        return
    if champion is None:
        log.warning("%s has no champion to copy", record["registered_model"])
        return
    target = params.target_prefix + record["model"]
    copy = ops.copy_champion(client, record["registered_model"], str(champion.version), target)
    record["copied_to"] = ops.model_uri(target, str(copy.version))


def _markdown(records: Sequence[dict[str, Any]], digest: str) -> str:
    """The decisions as a Markdown table."""
    lines = [
        "# Promotion decisions",
        "",
        f"Policy digest (SHA-256): `{digest}`",
        "",
        "| model | version | decision | metric | candidate | champion (version) "
        "| champion after | copied to | reason |",
        "|---|---|---|---|---|---|---|---|---|",
    ]
    for r in records:
        cells = [
            r["registered_model"],
            r["version"] or "–",
            r["decision"],
            f"{r['metric']} ({r['direction']}, ≥ {r['min_improvement']:g})",
            _cell(r["candidate"]),
            f"{_cell(r['champion'])} ({r['champion_version'] or '–'})",
            r["champion_after"] or "–",
            r["copied_to"] or "–",
            " ".join(r["reason"].replace("|", "/").split()),
        ]
        lines.append("| " + " | ".join(str(c) for c in cells) + " |")
    return "\n".join(lines) + "\n"


def _cell(value: float | None) -> str:
    return "n/a" if value is None else f"{value:.4g}"


def _log(ctx: StepContext, records: Sequence[dict[str, Any]], digest: str) -> None:
    """Log metrics, tags and the decisions artifacts on the promote run."""
    for r in records:
        mlflow.set_tag(_RUN_TAG + r["model"], r["decision"])
        for key in ("candidate", "champion", "improvement"):
            if r[key] is not None:
                mlflow.log_metric(f"{r['model']}.{key}", r[key])
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        with atomic_path(folder / "decisions.json") as path:
            path.write_text(json.dumps(list(records), indent=2) + "\n")
        with atomic_path(folder / "decisions.md") as path:
            path.write_text(_markdown(records, digest))
        mlflow.log_artifact(str(folder / "decisions.md"), "promotion")
        ctx.log_artifact_output("decisions", folder / "decisions.json", "promotion")


def run(params: PromoteParams) -> dict[str, str]:
    """Decide on each model's candidate version under the policy; return the outputs."""
    with step_run(STEP.name, family=STEP.family, task=STEP.task, params=asdict(params)) as ctx:
        _check_params(params)
        source = params.policy if is_remote(params.policy) else resolve_policy_path(params.policy)
        policy = load_policy(ctx.log_input("policy", str(source)))
        mlflow.set_tag(ops.TAG + "policy_digest", policy.digest)
        client = MlflowClient()
        plans = [_plan(client, m, params) for m in _chosen(client, policy, params)]
        records = [_decide(client, plan, policy.digest, ctx.run_id) for plan in plans]
        for record in records:
            _copy(client, record, params)
        _log(ctx, records, policy.digest)
        return ctx.outputs


def main(argv: Sequence[str] | None = None) -> None:
    """Command line of the entry point."""
    setup_logging()
    run(parse_params(PromoteParams, argv, prog="promote"))


if __name__ == "__main__":
    main()
