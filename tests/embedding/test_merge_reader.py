"""Merging blocks into one file, locally and on a loopback S3 server, and reading regions back."""

from __future__ import annotations

from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import h5py
import numpy as np
import pandas as pd
import pytest
from tests.deploy._s3 import Bucket, s3_bucket

from exprflow.embedding.blocks import WorkFolder
from exprflow.embedding.merge import merge_blocks, merge_once, output_exists
from exprflow.embedding.reader import EmbeddingFile
from exprflow.errors import InputError
from exprflow.storage.range_file import S3RangeFile

N, BINS, CHANNELS = 120, 896, 64


def _values() -> np.ndarray:
    rng = np.random.default_rng(7)
    return rng.gamma(0.5, 1.0, size=(N, BINS, CHANNELS)).astype("float16")


def _work(root: Path, blocks: list[tuple[int, int]]) -> WorkFolder:
    manifest = {
        "n_regions": N, "bins": BINS, "channels": CHANNELS, "level": 1, "key": {},
        "attributes": {"alphabet": "ACGT", "bin_size": 128},
    }  # fmt: skip
    work = WorkFolder(root, manifest)
    folds = np.array(["train", "valid", "test"])[np.arange(N) % 3]
    starts = np.arange(N) * 10
    table = {"chrom": "chr1", "start": starts, "end": starts + 5, "fold": folds}
    work.save_regions(pd.DataFrame(table))
    values = _values()
    with ThreadPoolExecutor(2) as encoder:
        for first, stop in blocks:
            work.write_block(first, values[first:stop], encoder)
    return work


def test_local_merge_round_trip(tmp_path: Path) -> None:
    work = _work(tmp_path / "w", [(0, 50), (50, 51), (51, N)])
    result = merge_blocks(work, str(tmp_path / "e.h5"))
    assert (result.n_regions, result.size) == (N, (tmp_path / "e.h5").stat().st_size)
    assert work.merged == {"uri": str(tmp_path / "e.h5"), "size": result.size}
    with EmbeddingFile(str(tmp_path / "e.h5")) as emb:
        np.testing.assert_array_equal(emb.embeddings[()], _values())
        assert emb.attrs["alphabet"] == "ACGT" and emb.attrs["layout_version"] == 1
        assert list(emb.fold("test")[:3]) == [2, 5, 8]
        np.testing.assert_array_equal(emb.region(77), _values()[77])
        with pytest.raises(IndexError):
            emb.region(N)


def test_merge_refuses_missing_regions(tmp_path: Path) -> None:
    work = _work(tmp_path / "w", [(0, 50), (60, N)])
    with pytest.raises(InputError, match=r"10 of 120 regions have no finished block, the first "
                       r"region 50 \(chr1:500-505\)"):  # fmt: skip
        merge_blocks(work, str(tmp_path / "e.h5"))
    assert not (tmp_path / "e.h5").exists()


def test_merge_once_merges_once(tmp_path: Path) -> None:
    work = _work(tmp_path / "w", [(0, 60), (60, N)])
    dest = str(tmp_path / "e.h5")
    with ThreadPoolExecutor(2) as pool:  # two shards finishing together
        results = list(pool.map(lambda _: merge_once(work, dest, keep_blocks=False), range(2)))
    assert results[0] == results[1]
    assert not work.blocks() and work.merged == {"uri": dest, "size": results[0].size}
    assert not work.blocks_dir.exists()
    again = merge_once(work, dest, keep_blocks=False)  # nothing left to merge: the file is it
    assert again == results[0]
    kept = _work(tmp_path / "k", [(0, N)])
    merge_once(kept, str(tmp_path / "k.h5"), keep_blocks=True)
    assert len(kept.blocks()) == 1


def test_reader_refuses_other_files(tmp_path: Path) -> None:
    with h5py.File(tmp_path / "other.h5", "w") as handle:
        handle["x"] = [1]
    with pytest.raises(InputError, match="is not an embeddings file of layout 1"):
        EmbeddingFile(str(tmp_path / "other.h5"))
    (tmp_path / "text.h5").write_text("no")
    with pytest.raises(InputError, match="cannot open as HDF5"):
        EmbeddingFile(str(tmp_path / "text.h5"))


@pytest.fixture(scope="module")
def bucket() -> Iterator[Bucket]:
    with s3_bucket("embed-key", "embed-secret") as opened:
        yield opened


@pytest.fixture()
def s3_env(bucket: Bucket, monkeypatch: pytest.MonkeyPatch) -> Bucket:
    monkeypatch.setenv("MLFLOW_S3_ENDPOINT_URL", bucket.endpoint)
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "embed-key")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "embed-secret")
    monkeypatch.setenv("AWS_DEFAULT_REGION", "us-east-1")
    return bucket


def test_s3_merge_uploads_multipart_and_reads_one_region_by_range(
    tmp_path: Path, s3_env: Bucket
) -> None:
    work = _work(tmp_path / "w", [(0, N)])
    uri = f"s3://{s3_env.name}/embeddings/tiny.h5"
    assert not output_exists(uri)
    result = merge_blocks(work, uri, part_size=5 << 20)
    assert output_exists(uri)
    assert not (work.root / "embeddings.h5").exists()  # the local copy is removed
    assert s3_env.sizes("embeddings/") == {"embeddings/tiny.h5": result.size}
    _, parts, first = s3_env.parts("embeddings/tiny.h5")
    assert parts == -(-result.size // (5 << 20)) and first == 5 << 20
    with EmbeddingFile(uri) as emb:
        source = emb._source
        assert isinstance(source, S3RangeFile)
        opened, requests = source.bytes_fetched, source.requests
        np.testing.assert_array_equal(emb.region(93), _values()[93])
        one_region = source.bytes_fetched - opened
        assert source.requests - requests <= 2
        assert list(emb.regions["start"][:3]) == [0, 10, 20]
    # opening plus one region: three 256 kB cache blocks of a 12 MB file
    assert opened + one_region < 0.07 * result.size
    assert one_region < 3 * 256 * 1024
