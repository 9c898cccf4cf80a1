from __future__ import annotations

from pathlib import Path

import mlflow
from mlflow.tracking import MlflowClient

from exprflow.pipeline.cache import (
    CACHE_TAG,
    cache_key,
    find_cached_run,
    input_fingerprint,
    normalise,
    output_fingerprints,
)
from exprflow.tracking.step import step_run


def test_normalise_stringifies_like_mlflow_params() -> None:
    assert normalise({"seed": 3, "size": "tiny", "rate": 0.5}) == {
        "rate": "0.5",
        "seed": "3",
        "size": "tiny",
    }


def test_cache_key_changes_with_each_ingredient() -> None:
    base = cache_key("prepare", {"a": "1"}, {"world": "abc"}, "0.1.0+x")
    assert base == cache_key("prepare", {"a": "1"}, {"world": "abc"}, "0.1.0+x")
    assert base != cache_key("simulate", {"a": "1"}, {"world": "abc"}, "0.1.0+x")
    assert base != cache_key("prepare", {"a": "2"}, {"world": "abc"}, "0.1.0+x")
    assert base != cache_key("prepare", {"a": "1"}, {"world": "abd"}, "0.1.0+x")
    assert base != cache_key("prepare", {"a": "1"}, {"world": "abc"}, "0.1.0+y")


def test_run_artifacts_are_fingerprinted_by_uri(tmp_path: Path) -> None:
    assert input_fingerprint("runs:/abc/prepared") == "uri:runs:/abc/prepared"
    (tmp_path / "f").write_text("x")
    assert input_fingerprint(str(tmp_path / "f")) != input_fingerprint("runs:/abc/prepared")


def _finished_run(output: Path, key: str) -> str:
    with step_run("s", family="f", task="t", params={}) as ctx:
        ctx.log_output("out", output)
    client = MlflowClient()
    client.set_tag(ctx.run_id, CACHE_TAG, key)
    for tag, value in output_fingerprints(client.get_run(ctx.run_id)).items():
        client.set_tag(ctx.run_id, tag, value)
    return ctx.run_id


def test_cached_run_is_found_only_while_its_output_is_intact(tracking: str, tmp_path: Path) -> None:
    output = tmp_path / "world"
    output.mkdir()
    (output / "genome.fa").write_text(">chr1\nACGT\n")
    run_id = _finished_run(output, "k1")
    client = MlflowClient()
    experiment_id = mlflow.get_run(run_id).info.experiment_id
    found = find_cached_run(client, experiment_id, "k1")
    assert found is not None and found.info.run_id == run_id
    assert find_cached_run(client, experiment_id, "other") is None
    (output / "genome.fa").write_text(">chr1\nACGA\n")
    assert find_cached_run(client, experiment_id, "k1") is None
    (output / "genome.fa").unlink()
    assert find_cached_run(client, experiment_id, "k1") is None
