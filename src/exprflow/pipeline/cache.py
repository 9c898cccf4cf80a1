"""The step cache: reuse a finished step run when nothing it depends on changed.

The key of a step run is the SHA-256 of its entry point, its normalised parameters
(defaults applied, every value a string, as MLflow stores them), the fingerprints of its
inputs and the code version. It is stored on the run as tag ``exprflow.cache_key`` and
looked up server-side, so the search does not depend on how many runs exist.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from mlflow.entities import Run
from mlflow.tracking import MlflowClient

from exprflow.tracking.fingerprint import fingerprint
from exprflow.tracking.step import OUTPUT_TAG
from exprflow.tracking.uris import is_remote

__all__ = [
    "CACHE_TAG",
    "OUTPUT_FINGERPRINT_TAG",
    "cache_key",
    "find_cached_run",
    "input_fingerprint",
    "normalise",
    "output_fingerprints",
    "outputs",
]

CACHE_TAG = "exprflow.cache_key"
OUTPUT_FINGERPRINT_TAG = "exprflow.output_fingerprint."


def normalise(params: Mapping[str, Any]) -> dict[str, str]:
    """Parameters as MLflow stores them: sorted, every value a string."""
    return {k: str(v) for k, v in sorted(params.items())}


def input_fingerprint(uri: str) -> str:
    """Fingerprint of an input: its content, or the URI itself for run artifacts.

    ``runs:/<id>/…`` never changes once written, so the URI identifies the content.
    """
    return f"uri:{uri}" if is_remote(uri) else fingerprint(Path(uri))


def cache_key(
    entry_point: str, params: Mapping[str, str], inputs: Mapping[str, str], code_version: str
) -> str:
    """SHA-256 over everything a step run's result depends on."""
    payload = {
        "entry_point": entry_point,
        "params": dict(sorted(params.items())),
        "inputs": dict(sorted(inputs.items())),
        "code_version": code_version,
    }
    return hashlib.sha256(json.dumps(payload, sort_keys=True).encode()).hexdigest()


def outputs(run: Run) -> dict[str, str]:
    """Output name → URI recorded on ``run``."""
    tags = run.data.tags
    return {k[len(OUTPUT_TAG) :]: v for k, v in tags.items() if k.startswith(OUTPUT_TAG)}


def output_fingerprints(run: Run) -> dict[str, str]:
    """Tags recording the fingerprint of each of ``run``'s outputs when it finished."""
    return {
        OUTPUT_FINGERPRINT_TAG + name: input_fingerprint(uri) for name, uri in outputs(run).items()
    }


def _outputs_intact(run: Run) -> bool:
    recorded = run.data.tags
    for tag, uri in ((OUTPUT_FINGERPRINT_TAG + n, u) for n, u in outputs(run).items()):
        if is_remote(uri):
            continue
        if not Path(uri).exists() or recorded.get(tag) != input_fingerprint(uri):
            return False
    return True


def find_cached_run(client: MlflowClient, experiment_id: str, key: str) -> Run | None:
    """The newest FINISHED run with cache key ``key`` whose outputs are as it left them.

    A run whose local output was deleted or changed since is not reused: the step runs
    again (and, being resumable, redoes only what is missing).
    """
    runs = client.search_runs(
        [experiment_id],
        filter_string=f"tags.`{CACHE_TAG}` = '{key}' and attributes.status = 'FINISHED'",
        order_by=["attributes.start_time DESC"],
        max_results=5,
    )
    return next((run for run in runs if _outputs_intact(run)), None)
