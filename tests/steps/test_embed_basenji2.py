"""``embed_basenji2`` + ``embed_merge`` on the tiny world with the tiny params file.

One run, a two-chunk run and a killed-and-resumed run must give the same bytes; bad
regions and params files get clear errors.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from dataclasses import replace
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from tests.deploy._s3 import s3_bucket
from tests.steps._runs import latest_run

from exprflow.embedding.blocks import WorkFolder
from exprflow.embedding.reader import EmbeddingFile
from exprflow.errors import InputError
from exprflow.models.basenji2.config import TINY_PARAMS
from exprflow.scoring.shards import CHUNK_ENV
from exprflow.steps.embed_basenji2 import EmbedBasenji2Params, run
from exprflow.steps.embed_merge import EmbedMergeParams
from exprflow.steps.embed_merge import run as run_merge

N_REGIONS = 40
LENGTH = 131_072


@pytest.fixture(autouse=True)
def isolated(module_tracking: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """A data root of each test's own, and no array-job variables unless a test sets them."""
    monkeypatch.setenv("EXPRFLOW_DATA_ROOT", str(tmp_path / "data"))
    for name in (*CHUNK_ENV, "SLURM_ARRAY_TASK_MIN"):
        monkeypatch.delenv(name, raising=False)


@pytest.fixture(scope="module")
def regions(tiny_world: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """40 overlapping regions over the four contigs, folds mixed, in sequences.bed layout."""
    rows = []
    for i in range(N_REGIONS):
        chrom, start = f"chr{1 + i % 4}", 8_192 * (i // 4)
        rows.append(f"{chrom}\t{start}\t{start + LENGTH}\t{('train', 'valid', 'test')[i % 3]}\n")
    path = tmp_path_factory.mktemp("regions") / "sequences.bed"
    path.write_text("".join(rows))
    return path


def _params(world: Path, regions: Path, **changes: object) -> EmbedBasenji2Params:
    base = EmbedBasenji2Params(world=str(world), regions=str(regions), batch_size=3)
    return replace(base, **changes)


def _read(uri: str) -> tuple[np.ndarray, list[bytes]]:
    """The embeddings and the stored (compressed) chunks of a file."""
    with EmbeddingFile(uri) as emb:
        values = emb.embeddings[()]
        chunks = [emb.embeddings.id.read_direct_chunk((i, 0, 0))[1] for i in range(len(emb))]
    return values, chunks


@pytest.fixture(scope="module")
def one_run(
    module_tracking: Path, tiny_world: Path, regions: Path, tmp_path_factory: pytest.TempPathFactory
) -> tuple[dict[str, str], dict[str, float]]:
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("EXPRFLOW_DATA_ROOT", str(tmp_path_factory.mktemp("one_run")))
        outputs = run(_params(tiny_world, regions))
        return outputs, latest_run().data.metrics


def test_one_run_writes_the_layout(one_run: tuple[dict[str, str], dict[str, float]]) -> None:
    outputs, metrics = one_run
    with EmbeddingFile(outputs["embeddings"]) as emb:
        assert emb.shape == (N_REGIONS, 896, 64)
        assert emb.embeddings.dtype == np.float16 and emb.embeddings.chunks == (1, 896, 64)
        assert list(emb.regions["chrom"][:5]) == ["chr1", "chr2", "chr3", "chr4", "chr1"]
        assert list(emb.regions["start"][:5]) == [0, 0, 0, 0, 8192]
        assert len(emb.fold("valid")) == 13
        assert emb.attrs["alphabet"] == "ACGT" and emb.attrs["bin_size"] == 128
        assert emb.attrs["crop_bp"] == 8192 and not emb.attrs["reverse_complement"]
        assert json.loads(emb.attrs["model_config"])["model"]["seq_length"] == LENGTH
        values = emb.region(7)
        assert np.isfinite(values).all() and values.std() > 0
    assert metrics["n_regions_embedded"] == N_REGIONS and metrics["n_regions_skipped"] == 0
    assert metrics["regions_per_second"] > 0 and metrics["compression_ratio"] > 1.0
    assert not WorkFolder.existing(Path(outputs["work_dir"])).blocks()  # removed after merge


def test_rerun_finds_the_merged_file(
    one_run: tuple[dict[str, str], dict[str, float]], tiny_world: Path, regions: Path
) -> None:
    outputs, _ = one_run
    work = Path(outputs["work_dir"])
    again = run(_params(tiny_world, regions, work_dir=str(work)))
    assert again["embeddings"] == outputs["embeddings"]
    assert "n_regions_embedded" not in latest_run().data.metrics


def test_two_chunks_give_the_same_bytes(
    one_run: tuple[dict[str, str], dict[str, float]], tiny_world: Path, regions: Path
) -> None:
    first = run(_params(tiny_world, regions, num_chunks=2, chunk_index=0))
    assert "embeddings" not in first  # chunk 1 is still to do
    assert latest_run().data.metrics["n_regions_embedded"] == N_REGIONS // 2
    second = run(_params(tiny_world, regions, num_chunks=2, chunk_index=1))
    assert second["work_dir"] == first["work_dir"]
    assert _read(second["embeddings"])[1] == _read(one_run[0]["embeddings"])[1]


def test_job_completion_index_picks_the_chunk(
    tiny_world: Path, regions: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("JOB_COMPLETION_INDEX", "3")
    outputs = run(_params(tiny_world, regions, num_chunks=4))
    work = WorkFolder.existing(Path(outputs["work_dir"]))
    assert work.pending(0, N_REGIONS) == list(range(30))
    assert latest_run().data.tags["exprflow.chunk"] == "3/4"


def test_killed_run_resumes_without_recomputing(
    one_run: tuple[dict[str, str], dict[str, float]],
    tiny_world: Path,
    regions: Path,
    tmp_path: Path,
) -> None:
    work = tmp_path / "work"
    args = [f"--world={tiny_world}", f"--regions={regions}", f"--work_dir={work}",
            "--batch_size=3"]  # fmt: skip
    process = subprocess.Popen(
        [sys.executable, "-m", "exprflow.steps.embed_basenji2", *args],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        env=os.environ.copy(),
    )
    deadline = time.monotonic() + 120
    while len(list((work / "blocks").glob("r*.h5"))) < 2:
        assert process.poll() is None and time.monotonic() < deadline, "no blocks appeared"
        time.sleep(0.02)
    process.send_signal(signal.SIGKILL)
    process.wait()
    done = N_REGIONS - len(WorkFolder.existing(work).pending(0, N_REGIONS))
    assert 6 <= done < N_REGIONS
    outputs = run(_params(tiny_world, regions, work_dir=str(work)))
    metrics = latest_run().data.metrics
    assert (metrics["n_regions_skipped"], metrics["n_regions_embedded"]) == (
        done,
        N_REGIONS - done,
    )
    assert _read(outputs["embeddings"])[1] == _read(one_run[0]["embeddings"])[1]


def test_merge_step_merges_a_folder_left_by_shards(
    one_run: tuple[dict[str, str], dict[str, float]],
    tiny_world: Path,
    regions: Path,
    tmp_path: Path,
) -> None:
    work = tmp_path / "work"
    for chunk in range(2):  # shards of a cluster job never merge: stop before the merge
        run(_params(tiny_world, regions, num_chunks=2, chunk_index=chunk, work_dir=str(work),
                    keep_blocks="true", output=str(tmp_path / "own.h5")))  # fmt: skip
    (tmp_path / "own.h5").unlink()
    outputs = run_merge(EmbedMergeParams(work_dir=str(work), output=str(tmp_path / "m.h5")))
    assert _read(outputs["embeddings"])[1] == _read(one_run[0]["embeddings"])[1]
    assert not WorkFolder.existing(work).blocks()


def test_merge_refuses_an_unfinished_folder(tiny_world: Path, regions: Path) -> None:
    outputs = run(_params(tiny_world, regions, num_chunks=4, chunk_index=0))
    with pytest.raises(InputError, match=r"30 of 40 regions have no finished block.*region 10"):
        run_merge(EmbedMergeParams(work_dir=outputs["work_dir"]))


def _bad_regions(tmp_path: Path, line: str) -> Path:
    path = tmp_path / "bad.bed"
    path.write_text(f"chr1\t0\t{LENGTH}\ttrain\n{line}\n")
    return path


@pytest.mark.parametrize(
    ("line", "message"),
    [
        (f"chr2\t300000\t{300000 + LENGTH}\ttest", r"runs past the end of chr2 \(400,000 bp\)"),
        ("chr2\t0\t131000\ttest", "is 131,000 bp; every region must be 131,072 bp"),
        (f"chr9\t0\t{LENGTH}\ttest", "chr9"),
        (f"chr2\t0\t{LENGTH}\tholdout", "unknown fold 'holdout'"),
    ],
)
def test_bad_regions(tiny_world: Path, tmp_path: Path, line: str, message: str) -> None:
    with pytest.raises(InputError, match=message) as caught:
        run(_params(tiny_world, _bad_regions(tmp_path, line)))
    assert "bad.bed: line 2" in str(caught.value) or "chr9" in str(caught.value)
    assert latest_run().info.status == "FAILED"


def test_params_with_an_unknown_block(tiny_world: Path, regions: Path, tmp_path: Path) -> None:
    doc = json.loads(TINY_PARAMS.read_text())
    doc["model"]["trunk"].insert(2, {"name": "transformer", "heads": 8})
    params = tmp_path / "params.json"
    params.write_text(json.dumps(doc))
    with pytest.raises(InputError, match=r"trunk block 2 is 'transformer'; supported"):
        run(_params(tiny_world, regions, params=str(params)))


def test_bad_settings(tiny_world: Path, regions: Path) -> None:
    with pytest.raises(InputError, match="batch_size=0"):
        run(_params(tiny_world, regions, batch_size=0))
    with pytest.raises(InputError, match="threads=-1"):
        run(_params(tiny_world, regions, threads=-1))
    with pytest.raises(InputError, match="precision='half'"):
        run(_params(tiny_world, regions, precision="half"))


def test_output_to_s3_reads_back_by_range(
    one_run: tuple[dict[str, str], dict[str, float]],
    tiny_world: Path,
    regions: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    with s3_bucket("embed-key", "embed-secret") as bucket:
        monkeypatch.setenv("MLFLOW_S3_ENDPOINT_URL", bucket.endpoint)
        monkeypatch.setenv("AWS_ACCESS_KEY_ID", "embed-key")
        monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "embed-secret")
        monkeypatch.setenv("AWS_DEFAULT_REGION", "us-east-1")
        uri = f"s3://{bucket.name}/basenji2/embeddings.h5"
        outputs = run(_params(tiny_world, regions, output=uri))
        assert outputs["embeddings"] == uri
        assert latest_run().data.tags["exprflow.output.embeddings"] == uri
        with EmbeddingFile(uri) as remote, EmbeddingFile(one_run[0]["embeddings"]) as local:
            np.testing.assert_array_equal(remote.region(33), local.region(33))
            pd.testing.assert_frame_equal(remote.regions, local.regions)
