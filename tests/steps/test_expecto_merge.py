"""``expecto_merge`` on folders of ``expecto_personalized`` chunks: merges, or refuses gaps.

Also the cluster protocol for real on the tiny world: shards nested under a parent run
(``EXPRFLOW_PARENT_RUN_ID``, ``JOB_COMPLETION_INDEX``), the merge finding their folders
and ending the parent.
"""

from __future__ import annotations

import shutil
from dataclasses import asdict, replace
from pathlib import Path
from typing import NamedTuple

import mlflow
import pandas as pd
import pytest
from tests.conftest import TinyExpecto
from tests.steps._runs import latest_run

from exprflow.errors import InputError
from exprflow.scoring.merge import predictions_table
from exprflow.scoring.store import GENES_DIR, MANIFESTS_DIR
from exprflow.steps import expecto_personalized
from exprflow.steps.expecto_merge import ExpectoMergeParams, run
from exprflow.tracking.shards import CHUNK_TAG, PARENT_ENV, create_parent_run
from exprflow.tracking.step import OUTPUT_TAG

#: Rows of the world's gene_list.csv scored, one per chunk.
GENE_ROWS = [14, 17]
N_SAMPLES = 4


class Chunks(NamedTuple):
    """Two chunks scored into folders of their own, and the gene list they share."""

    dirs: list[Path]
    genes: Path
    gene_ids: list[str]
    params: expecto_personalized.ExpectoPersonalizedParams


@pytest.fixture(scope="module")
def chunks(module_tracking: Path, tiny_world: Path, tiny_expecto: TinyExpecto) -> Chunks:
    """``expecto_personalized`` with ``num_chunks=2``, each chunk in a folder of its own."""
    lines = (tiny_world / "annotation" / "gene_list.csv").read_text().splitlines()
    genes = module_tracking / "genes.csv"
    genes.write_text("".join(lines[i] + "\n" for i in GENE_ROWS))
    samples = module_tracking / "samples.txt"
    samples.write_text(_samples(tiny_world))  # the plain layout: one id per line
    dirs = [module_tracking / "chunk0", module_tracking / "chunk1"]
    base = expecto_personalized.ExpectoPersonalizedParams(
        world=str(tiny_world),
        genes=str(genes),
        samples=str(samples),
        chromatin_model=str(tiny_expecto.checkpoint),
        tissue_models=str(tiny_expecto.tissue_models),
    )
    for index, work_dir in enumerate(dirs):
        params = replace(base, num_chunks=2, chunk_index=index, work_dir=str(work_dir))
        outputs = expecto_personalized.run(params)
        assert "predictions" not in outputs  # neither folder holds every gene
    return Chunks(dirs, genes, [lines[i].split(",")[0] for i in GENE_ROWS], base)


def _samples(world: Path) -> str:
    """The first samples of the world's samples.tsv, one id per line."""
    rows = (world / "variants" / "samples.tsv").read_text().splitlines()[1 : 1 + N_SAMPLES]
    return "".join(row.split("\t")[0] + "\n" for row in rows)


def test_merges_every_chunk_folder(chunks: Chunks, tmp_path: Path) -> None:
    output = tmp_path / "merged.tsv.gz"
    folders = ",".join(map(str, chunks.dirs))
    outputs = run(ExpectoMergeParams(work_dir=folders, genes=str(chunks.genes), output=str(output)))

    assert outputs["predictions"].endswith("/predictions/merged.tsv.gz")
    logged = pd.read_csv(mlflow.artifacts.download_artifacts(outputs["predictions"]), sep="\t")
    written = pd.read_csv(output, sep="\t")
    pd.testing.assert_frame_equal(logged, written)
    expected = predictions_table(chunks.dirs)
    pd.testing.assert_frame_equal(written, expected, check_dtype=False)
    assert sorted(written["gene_id"].unique()) == sorted(chunks.gene_ids)
    assert len(written) == len(GENE_ROWS) * (1 + 2 * N_SAMPLES)

    finished = latest_run()
    assert finished.info.status == "FINISHED"
    assert finished.data.tags["exprflow.family"] == "expecto"
    assert finished.data.tags["exprflow.task"] == "expression"
    assert finished.data.metrics["n_genes"] == len(GENE_ROWS)
    assert finished.data.metrics["n_samples"] == N_SAMPLES
    assert finished.data.metrics["n_rows"] == len(written)
    names = {d.dataset.name for d in finished.inputs.dataset_inputs}
    assert names == {"work_dir_0", "work_dir_1", "genes"}


def _shared_folder(chunks: Chunks, dest: Path, *, manifests: bool) -> Path:
    """Both chunks' gene files in one folder (with or without their manifests)."""
    for folder in chunks.dirs:
        shutil.copytree(folder / GENES_DIR, dest / GENES_DIR, dirs_exist_ok=True)
        if manifests:
            shutil.copytree(folder / MANIFESTS_DIR, dest / MANIFESTS_DIR, dirs_exist_ok=True)
    return dest


def _bad_case(case: str, chunks: Chunks, tmp: Path) -> tuple[ExpectoMergeParams, str]:
    """Parameters of one refused merge, and the message expected."""
    output = str(tmp / "merged.tsv.gz")
    if case == "a chunk's folder left out":
        return ExpectoMergeParams(work_dir=str(chunks.dirs[0]), output=output), (
            r"is unfinished: 1 gene\(s\) listed in its manifests have no output yet"
        )
    if case == "a killed chunk":
        shared = _shared_folder(chunks, tmp / "shared", manifests=True)
        (shared / GENES_DIR / f"{chunks.gene_ids[1]}.npz").unlink()
        return ExpectoMergeParams(work_dir=str(shared), output=output), (
            f"is unfinished: .* e\\.g\\. {chunks.gene_ids[1]}"
        )
    if case == "a chunk that never started":
        shared = _shared_folder(chunks, tmp / "shared", manifests=False)
        (shared / GENES_DIR / f"{chunks.gene_ids[0]}.npz").unlink()
        params = ExpectoMergeParams(work_dir=str(shared), genes=str(chunks.genes), output=output)
        return params, rf"1 of 2 expected gene\(s\) have no output .* e\.g\. {chunks.gene_ids[0]}"
    if case == "no work_dir":
        return ExpectoMergeParams(output=output), "work_dir is required"
    if case == "a folder that does not exist":
        return ExpectoMergeParams(work_dir=str(tmp / "nowhere"), output=output), "does not exist"
    folders = ",".join(map(str, chunks.dirs))
    return ExpectoMergeParams(work_dir=folders, output=str(tmp / "merged.csv")), (
        "unknown output format"
    )


@pytest.mark.parametrize(
    "case",
    [
        "a chunk's folder left out",
        "a killed chunk",
        "a chunk that never started",
        "no work_dir",
        "a folder that does not exist",
        "an unknown output format",
    ],
)
def test_refuses_and_writes_nothing(case: str, chunks: Chunks, tmp_path: Path) -> None:
    params, message = _bad_case(case, chunks, tmp_path)
    with pytest.raises(InputError, match=message):
        run(params)
    failed = latest_run()
    assert failed.info.status == "FAILED"
    assert OUTPUT_TAG + "predictions" not in failed.data.tags
    assert not list(tmp_path.glob("merged.*"))


def _table(uri: str) -> pd.DataFrame:
    return pd.read_csv(mlflow.artifacts.download_artifacts(uri), sep="\t")


def test_shards_under_a_parent_run_merge_into_the_unsharded_result(
    chunks: Chunks, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("EXPRFLOW_DATA_ROOT", str(tmp_path / "single"))
    single = expecto_personalized.run(chunks.params)  # num_chunks=1: merges itself
    sharded = replace(chunks.params, num_chunks=2)  # chunk_index -1: JOB_COMPLETION_INDEX
    spec = expecto_personalized.STEP
    parent = create_parent_run(
        spec.name, family=spec.family, task=spec.task, params=asdict(sharded), shards=2
    )
    monkeypatch.setenv("EXPRFLOW_DATA_ROOT", str(tmp_path / "cluster"))
    monkeypatch.setenv(PARENT_ENV, parent)
    for index in ("1", "0"):  # pods finish in any order; none merges
        monkeypatch.setenv("JOB_COMPLETION_INDEX", index)
        assert "predictions" not in expecto_personalized.run(sharded)
    monkeypatch.delenv("JOB_COMPLETION_INDEX")
    merged = run(ExpectoMergeParams(output=str(tmp_path / "merged.tsv.gz")))

    children = mlflow.search_runs(
        search_all_experiments=True,
        filter_string=f"tags.`mlflow.parentRunId` = '{parent}'",
        output_format="list",
        order_by=["attributes.start_time ASC"],
    )
    assert [(r.info.run_name, r.data.tags.get(CHUNK_TAG), r.info.status) for r in children] == [
        ("expecto_personalized-shard-1", "1/2", "FINISHED"),
        ("expecto_personalized-shard-0", "0/2", "FINISHED"),
        ("expecto_merge", None, "FINISHED"),
    ]
    (work_dir,) = {r.data.tags[OUTPUT_TAG + "work_dir"] for r in children[:2]}  # shared
    assert Path(work_dir).is_relative_to(tmp_path / "cluster")
    ended = mlflow.get_run(parent)
    assert ended.info.status == "FINISHED"
    assert ended.data.tags[OUTPUT_TAG + "predictions"] == merged["predictions"]
    assert ended.data.tags[OUTPUT_TAG + "work_dir"] == work_dir
    assert ended.data.params["num_chunks"] == "2"
    expected = _table(single["predictions"])
    pd.testing.assert_frame_equal(_table(ended.data.tags[OUTPUT_TAG + "predictions"]), expected)
