"""Sharded steps' runs: shards and the merge nest under one parent run, which the merge ends."""

from __future__ import annotations

import mlflow
import pytest

from exprflow.errors import InputError
from exprflow.tracking.shards import (
    CHUNK_TAG,
    PARENT_ENV,
    SHARDS_TAG,
    create_parent_run,
    finished_shards,
    shard_tag_values,
)
from exprflow.tracking.step import OUTPUT_TAG, step_run


def _children(parent_id: str) -> list[mlflow.entities.Run]:
    return mlflow.search_runs(
        search_all_experiments=True,
        filter_string=f"tags.`mlflow.parentRunId` = '{parent_id}'",
        output_format="list",
        order_by=["attributes.start_time ASC"],
    )


def test_shards_nest_under_the_parent_and_the_merge_ends_it(
    tracking: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    parent = create_parent_run(
        "scatter", family="f", task="t", params={"num_chunks": 2, "x": "a"}, shards=2
    )
    started = mlflow.get_run(parent)
    assert started.info.status == "RUNNING" and started.info.run_name == "scatter"
    assert started.data.params == {"num_chunks": "2", "x": "a"}
    assert started.data.tags[SHARDS_TAG] == "2" and started.data.tags["exprflow.step"] == "scatter"
    monkeypatch.setenv(PARENT_ENV, parent)
    for chunk in (1, 0):
        with step_run("scatter", family="f", task="t", params={}) as ctx:
            assert ctx.parent_run_id == parent
            ctx.record_chunk("scatter", chunk, 2)
            ctx.log_output("work_dir", "/shared/work")
    assert [r.info.run_id for r in finished_shards(parent, "scatter")] == [
        r.info.run_id for r in reversed(_children(parent))
    ]
    assert shard_tag_values(parent, "scatter", OUTPUT_TAG + "work_dir") == ["/shared/work"]
    with pytest.raises(InputError, match=r"shard run \w+: recorded no exprflow.output.model"):
        shard_tag_values(parent, "scatter", OUTPUT_TAG + "model")
    with step_run("gather", family="f", task="t", params={}, merges="scatter") as merge:
        merge.log_parent_output("predictions", "runs:/x/predictions/table.tsv")
    shards = _children(parent)[:2]
    assert [r.info.run_name for r in shards] == ["scatter-shard-1", "scatter-shard-0"]
    assert [r.data.tags[CHUNK_TAG] for r in shards] == ["1/2", "0/2"]
    assert _children(parent)[2].info.run_name == "gather"
    ended = mlflow.get_run(parent)
    assert ended.info.status == "FINISHED"
    assert ended.data.tags[OUTPUT_TAG + "predictions"] == "runs:/x/predictions/table.tsv"
    assert "+" in ended.data.tags["exprflow.code_version"]


def test_a_failed_merge_fails_the_parent_and_a_rerun_finishes_it(
    tracking: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    parent = create_parent_run("scatter", family="f", task="t", params={}, shards=3)
    monkeypatch.setenv(PARENT_ENV, parent)
    with pytest.raises(RuntimeError), step_run("scatter", family="f", task="t", params={}) as ctx:
        ctx.record_chunk("scatter", 2, 3)
        raise RuntimeError("killed")
    with step_run("scatter", family="f", task="t", params={}) as ctx:
        ctx.record_chunk("scatter", 0, 3)
    message = (
        r"2 of 3 shard\(s\) of scatter have no FINISHED run: 1 \(never started\), 2 \(FAILED\)"
    )
    with (
        pytest.raises(InputError, match=message),
        step_run("gather", family="f", task="t", params={}, merges="scatter"),
    ):
        finished_shards(parent, "scatter")
    failed = mlflow.get_run(parent)
    assert failed.info.status == "FAILED"
    assert failed.data.tags["exprflow.error"].startswith("gather (run ")
    for chunk in (1, 2):
        with step_run("scatter", family="f", task="t", params={}) as ctx:
            ctx.record_chunk("scatter", chunk, 3)
    with step_run("gather", family="f", task="t", params={}, merges="scatter"):
        assert len(finished_shards(parent, "scatter")) == 3
    finished = mlflow.get_run(parent)
    assert finished.info.status == "FINISHED" and "exprflow.error" not in finished.data.tags


def test_bad_parent_runs_are_refused(tracking: str, monkeypatch: pytest.MonkeyPatch) -> None:
    other = create_parent_run("other", family="f", task="t", params={}, shards=2)
    monkeypatch.setenv(PARENT_ENV, other)
    match = r"EXPRFLOW_PARENT_RUN_ID: parent run \w+ is a run of step 'other'; a 'scatter' run"
    with (
        pytest.raises(InputError, match=match),
        step_run("scatter", family="f", task="t", params={}),
    ):
        pass
    monkeypatch.setenv(PARENT_ENV, "0" * 32)
    with (
        pytest.raises(InputError, match="names no run"),
        step_run("s", family="f", task="t", params={}),
    ):
        pass
    monkeypatch.delenv(PARENT_ENV)
    with step_run("plain", family="f", task="t", params={}) as plain:
        pass
    with pytest.raises(InputError, match=r"has no exprflow.shards tag"):
        finished_shards(plain.run_id, "scatter")


def test_a_run_of_mlflow_run_ignores_the_parent(
    tracking: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    parent = create_parent_run("s", family="f", task="t", params={}, shards=1)
    with mlflow.start_run() as outer:
        pass
    monkeypatch.setenv("MLFLOW_RUN_ID", outer.info.run_id)
    monkeypatch.setenv(PARENT_ENV, parent)
    with step_run("s", family="f", task="t", params={}) as ctx:
        ctx.record_chunk("s", 0, 1)
    assert ctx.run_id == outer.info.run_id and ctx.parent_run_id is None
    assert "mlflow.parentRunId" not in mlflow.get_run(ctx.run_id).data.tags
    assert mlflow.get_run(ctx.run_id).data.tags[CHUNK_TAG] == "0/1"
