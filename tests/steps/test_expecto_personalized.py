"""``expecto_personalized`` on the tiny world: chunks + merge, array-job index, resume, bad inputs.

Three genes (both strands, two contigs) and four samples keep each scoring to seconds.
"""

from __future__ import annotations

import gzip
from dataclasses import replace
from pathlib import Path
from typing import NamedTuple

import mlflow
import numpy as np
import pandas as pd
import pytest
from tests.conftest import TinyExpecto
from tests.steps._runs import latest_run

from exprflow.errors import InputError
from exprflow.genome.vcf import bgzip_index
from exprflow.models.expecto.plugins import BelugaChromatin
from exprflow.models.expecto.tissue import load_json, save_json
from exprflow.scoring.shards import CHUNK_ENV
from exprflow.scoring.store import GENES_DIR
from exprflow.steps._expecto import read_samples
from exprflow.steps.expecto_personalized import (
    PREDICTIONS_FILE,
    ExpectoPersonalizedParams,
    run,
)
from exprflow.tracking.step import OUTPUT_TAG

#: Rows of the world's gene_list.csv scored (cheap ones: + chr3, - chr3, + chr4).
GENE_ROWS = [14, 17, 23]
N_SAMPLES = 4


class Inputs(NamedTuple):
    """Files shared by the tests: the gene subset and a samples table."""

    genes: Path
    samples: Path
    sample_ids: list[str]
    gene_ids: list[str]


class Finished(NamedTuple):
    """A finished step run: its outputs, metrics and merged table (None when not merged)."""

    outputs: dict[str, str]
    metrics: dict[str, float]
    table: pd.DataFrame | None


@pytest.fixture(autouse=True)
def isolated(module_tracking: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """A data root of each test's own, and no array-job variables unless a test sets them."""
    monkeypatch.setenv("EXPRFLOW_DATA_ROOT", str(tmp_path / "data"))
    for name in (*CHUNK_ENV, "SLURM_ARRAY_TASK_MIN"):
        monkeypatch.delenv(name, raising=False)


@pytest.fixture(scope="module")
def inputs(tiny_world: Path, tmp_path_factory: pytest.TempPathFactory) -> Inputs:
    root = tmp_path_factory.mktemp("personalized_inputs")
    lines = (tiny_world / "annotation" / "gene_list.csv").read_text().splitlines()
    genes = root / "genes.csv"
    genes.write_text("".join(lines[i] + "\n" for i in GENE_ROWS))
    table = (tiny_world / "variants" / "samples.tsv").read_text().splitlines()
    samples = root / "samples.tsv"  # the world's layout: header + one row per sample
    samples.write_text("\n".join(table[: 1 + N_SAMPLES]) + "\n")
    sample_ids = [line.split("\t")[0] for line in table[1 : 1 + N_SAMPLES]]
    return Inputs(genes, samples, sample_ids, [line.split(",")[0] for line in lines])


def _params(
    world: Path, inputs: Inputs, tiny_expecto: TinyExpecto, **changes: object
) -> ExpectoPersonalizedParams:
    base = ExpectoPersonalizedParams(
        world=str(world),
        genes=str(inputs.genes),
        samples=str(inputs.samples),
        chromatin_model=str(tiny_expecto.checkpoint),
        tissue_models=str(tiny_expecto.tissue_models),
    )
    return replace(base, **changes)


def _finished(outputs: dict[str, str]) -> Finished:
    """Read back a run's metrics and, when it merged, its predictions table."""
    last = latest_run()
    assert last.info.status == "FINISHED"
    table = None
    if "predictions" in outputs:
        local = mlflow.artifacts.download_artifacts(outputs["predictions"])
        table = pd.read_csv(local, sep="\t")
    return Finished(outputs, last.data.metrics, table)


@pytest.fixture(scope="module")
def one_run(
    module_tracking: Path,
    tiny_world: Path,
    tiny_expecto: TinyExpecto,
    inputs: Inputs,
    tmp_path_factory: pytest.TempPathFactory,
) -> Finished:
    """The step with ``num_chunks=1``, with a data root of its own."""
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("EXPRFLOW_DATA_ROOT", str(tmp_path_factory.mktemp("one_run")))
        for name in CHUNK_ENV:
            patch.delenv(name, raising=False)
        return _finished(run(_params(tiny_world, inputs, tiny_expecto)))


def test_one_run_scores_every_haplotype(one_run: Finished, inputs: Inputs) -> None:
    table = one_run.table
    assert table is not None
    assert one_run.outputs["predictions"].endswith(f"/predictions/{PREDICTIONS_FILE}")
    assert list(table.columns[:3]) == ["gene_id", "sample", "haplotype"]
    assert sorted(table["gene_id"].unique()) == sorted(inputs.gene_ids[i] for i in GENE_ROWS)
    first = table[table["gene_id"] == table["gene_id"].iloc[0]]
    assert first["sample"].tolist() == ["ref", *np.repeat(inputs.sample_ids, 2)]
    assert first["haplotype"].tolist() == [0, *[1, 2] * N_SAMPLES]
    assert np.isfinite(table.iloc[:, 3:].to_numpy()).all()
    metrics = one_run.metrics
    assert metrics["n_genes_scored"] == len(GENE_ROWS) and metrics["n_genes_skipped"] == 0
    assert metrics["n_samples"] == N_SAMPLES
    assert metrics["windows_requested"] == len(GENE_ROWS) * (1 + 2 * N_SAMPLES) * 200
    assert 0 < metrics["windows_evaluated"] < metrics["windows_requested"]
    assert metrics["dedup_ratio"] == pytest.approx(
        metrics["windows_requested"] / metrics["windows_evaluated"]
    )
    assert metrics["bytes_written"] > 0
    assert Path(one_run.outputs["work_dir"]).parent.name == "expecto_personalized"


def test_two_chunks_merge_to_the_one_run(
    tiny_world: Path,
    tiny_expecto: TinyExpecto,
    inputs: Inputs,
    one_run: Finished,
    monkeypatch: pytest.MonkeyPatch,
    tmp_path: Path,
) -> None:
    work = str(tmp_path / "work")
    chunks = _params(tiny_world, inputs, tiny_expecto, num_chunks=2, work_dir=work)
    first = _finished(run(replace(chunks, chunk_index=0)))
    assert "predictions" not in first.outputs  # chunk 1 is still to come
    assert first.outputs["work_dir"] == work
    assert first.metrics["n_genes_scored"] == 2  # as np.array_split: 2 + 1
    assert not list(tmp_path.rglob(PREDICTIONS_FILE))

    monkeypatch.setenv("JOB_COMPLETION_INDEX", "1")  # chunk_index=-1: the array job's
    second = _finished(run(chunks))
    assert second.metrics["n_genes_scored"] == 1 and second.metrics["n_genes_skipped"] == 0
    assert second.table is not None and one_run.table is not None
    pd.testing.assert_frame_equal(second.table, one_run.table)


class Killed(Exception):
    """Stands for the job being killed mid-run."""


def _raise_after(monkeypatch: pytest.MonkeyPatch, calls: int) -> None:
    """Make the chromatin plug-in fail on call ``calls + 1``, as a killed job would stop."""
    original = BelugaChromatin.__call__
    count = {"n": 0}

    def failing(self: BelugaChromatin, onehot: np.ndarray) -> np.ndarray:
        count["n"] += 1
        if count["n"] > calls:
            raise Killed(f"chromatin call {count['n']}")
        return original(self, onehot)

    monkeypatch.setattr(BelugaChromatin, "__call__", failing)


def test_killed_run_resumes_without_recomputing(
    tiny_world: Path,
    tiny_expecto: TinyExpecto,
    inputs: Inputs,
    one_run: Finished,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    params = _params(tiny_world, inputs, tiny_expecto, genes_per_batch=1)
    with monkeypatch.context() as patch:
        _raise_after(patch, 1)  # one gene per chromatin call: the first gene is finished
        with pytest.raises(Killed):
            run(params)
    killed = latest_run()
    assert killed.info.status == "FAILED"
    assert OUTPUT_TAG + "predictions" not in killed.data.tags
    work_dir = Path(killed.data.tags[OUTPUT_TAG + "work_dir"])
    assert len(list((work_dir / GENES_DIR).glob("*.npz"))) == 1

    resumed = _finished(run(params))
    assert resumed.outputs["work_dir"] == str(work_dir)  # same inputs, same folder
    assert resumed.metrics["n_genes_skipped"] == 1 and resumed.metrics["n_genes_scored"] == 2
    assert resumed.table is not None and one_run.table is not None
    pd.testing.assert_frame_equal(resumed.table, one_run.table)


def _write_unphased(world: Path, dest: Path, sample: str) -> Path:
    """Copy the world's VCF with ``sample``'s genotypes written unphased (``0/1``)."""
    with gzip.open(world / "variants" / "population.vcf.gz", "rt") as handle:
        lines = handle.read().splitlines()
    header = next(line for line in lines if line.startswith("#CHROM")).split("\t")
    column = header.index(sample)
    out = []
    for line in lines:
        fields = line.split("\t")
        if not line.startswith("#"):
            fields[column] = fields[column].replace("|", "/")
        out.append("\t".join(fields))
    plain = dest.with_suffix("")
    plain.write_text("\n".join(out) + "\n")
    return bgzip_index(plain, dest)


def _wrong_width_models(tiny_expecto: TinyExpecto, dest: Path) -> Path:
    """A tissue-model folder whose one model has 10 features too few."""
    model = load_json(tiny_expecto.tissue_models / "E116.json")
    save_json(replace(model, weights=model.weights[:-10]), dest / "E116.json")
    (dest / "modellist").write_text("ModelName\tTissue\nE116.json\tE116\n")
    return dest


def _bad_case(
    case: str, inputs: Inputs, tiny_world: Path, tiny_expecto: TinyExpecto, tmp: Path
) -> tuple[dict[str, object], str]:
    """Parameter changes of one bad input, and the message expected."""
    if case in ("unknown gene", "TSS near a contig end"):
        row = "ENSG_BAD,9,50000,BAD,+" if case == "unknown gene" else "ENSG_BAD,1,1000,BAD,+"
        genes = tmp / "genes.csv"
        genes.write_text(inputs.genes.read_text() + row + "\n")
        message = (
            r"ENSG_BAD lies on contig '9'" if case == "unknown gene" else "ENSG_BAD.*too close"
        )
        return {"genes": str(genes)}, message
    if case == "unphased sample":
        vcf = _write_unphased(tiny_world, tmp / "unphased.vcf.gz", inputs.sample_ids[1])
        return {"vcf": str(vcf)}, f"sample {inputs.sample_ids[1]} has an unphased"
    if case == "sample missing from the VCF":
        samples = tmp / "samples.txt"  # the plain layout: one id per line
        samples.write_text(f"{inputs.sample_ids[0]}\nNA00000\n")
        return {"samples": str(samples)}, "sample 'NA00000' is not in the VCF"
    models = _wrong_width_models(tiny_expecto, tmp / "models")
    return {"tissue_models": str(models)}, r"take \d+ features"


@pytest.mark.parametrize(
    "case",
    [
        "unknown gene",
        "TSS near a contig end",
        "unphased sample",
        "sample missing from the VCF",
        "tissue models with the wrong feature count",
    ],
)
def test_bad_input_is_named_and_nothing_is_merged(
    case: str,
    tiny_world: Path,
    tiny_expecto: TinyExpecto,
    inputs: Inputs,
    tmp_path: Path,
) -> None:
    changes, message = _bad_case(case, inputs, tiny_world, tiny_expecto, tmp_path)
    with pytest.raises(InputError, match=message):
        run(_params(tiny_world, inputs, tiny_expecto, **changes))
    failed = latest_run()
    assert failed.info.status == "FAILED"
    assert OUTPUT_TAG + "predictions" not in failed.data.tags
    assert not list(tmp_path.rglob(PREDICTIONS_FILE))
    assert not list(tmp_path.rglob("*.npz"))  # refused before any gene was written


@pytest.mark.parametrize(
    ("changes", "message"),
    [
        ({"num_chunks": 0}, "num_chunks=0"),
        ({"num_chunks": 2, "chunk_index": 2}, "chunk index 2 is out of range"),
        ({"num_chunks": 2}, "no chunk index given"),
        ({"save_features": "maybe"}, "save_features='maybe'"),
        ({"dtype": "fp16"}, "dtype='fp16'"),
        ({"chromatin_model": ""}, "chromatin_model is required"),
    ],
)
def test_bad_parameters_are_refused(
    changes: dict[str, object],
    message: str,
    tiny_world: Path,
    tiny_expecto: TinyExpecto,
    inputs: Inputs,
) -> None:
    with pytest.raises(InputError, match=message):
        run(_params(tiny_world, inputs, tiny_expecto, **changes))


def test_samples_files_of_both_layouts(tmp_path: Path) -> None:
    table = tmp_path / "samples.tsv"
    table.write_text("population\tsample\nCEU\tA1\n\nYRI\tB2\n")
    assert read_samples(table) == ["A1", "B2"]
    plain = tmp_path / "samples.txt"
    plain.write_text("# cohort\nA1\n  B2 \n\n")
    assert read_samples(plain) == ["A1", "B2"]
    plain.write_text("sample\nA1\n")  # a one-column table
    assert read_samples(plain) == ["A1"]


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("id\tpopulation\nA1\tCEU\n", "without a 'sample' column"),
        ("sample\tpopulation\nA1\tCEU\n\tYRI\n", "line 3: row has no sample id"),
        ("# nobody\n", "lists no samples"),
    ],
)
def test_bad_samples_files(text: str, message: str, tmp_path: Path) -> None:
    path = tmp_path / "samples.tsv"
    path.write_text(text)
    with pytest.raises(InputError, match=message):
        read_samples(path)
