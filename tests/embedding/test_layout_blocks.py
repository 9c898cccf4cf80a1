from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import h5py
import numpy as np
import pandas as pd
import pytest

from exprflow.embedding.blocks import WorkFolder
from exprflow.embedding.layout import (
    DATASET,
    create_embeddings,
    encode_chunk,
    read_region_table,
    write_region_table,
)
from exprflow.errors import InputError

MANIFEST = {"n_regions": 10, "bins": 6, "channels": 5, "level": 1, "key": {"model": "m"}}


def _values(n: int, seed: int = 0) -> np.ndarray:
    return np.random.default_rng(seed).normal(size=(n, 6, 5)).astype("float16")


@pytest.mark.parametrize("level", [0, 1, 6, 9])
def test_encode_chunk_is_what_hdf5_writes(tmp_path: Path, level: int) -> None:
    values = _values(3)
    with h5py.File(tmp_path / "ref.h5", "w") as handle:
        dataset = create_embeddings(handle, 3, 6, 5, level)
        dataset[...] = values  # HDF5's own shuffle + deflate
        stored = [dataset.id.read_direct_chunk((i, 0, 0)) for i in range(3)]
    assert [data for _, data in stored] == [encode_chunk(v, level) for v in values]
    assert {mask for mask, _ in stored} == {0}


def test_direct_chunks_decode_with_plain_h5py(tmp_path: Path) -> None:
    values = _values(4)
    with h5py.File(tmp_path / "e.h5", "w") as handle:
        dataset = create_embeddings(handle, 4, 6, 5, 1)
        for i, v in enumerate(values):
            dataset.id.write_direct_chunk((i, 0, 0), encode_chunk(v, 1))
    with h5py.File(tmp_path / "e.h5", "r") as handle:
        dataset = handle[DATASET]
        assert dataset.chunks == (1, 6, 5) and dataset.shuffle and dataset.compression == "gzip"
        np.testing.assert_array_equal(dataset[()], values)


def test_region_table_round_trip(tmp_path: Path) -> None:
    regions = pd.DataFrame(
        {"chrom": ["chr1", "chrX"], "start": [0, 5], "end": [10, 15], "fold": ["train", "test"]}
    )
    with h5py.File(tmp_path / "r.h5", "w") as handle:
        write_region_table(handle, regions)
    with h5py.File(tmp_path / "r.h5", "r") as handle:
        pd.testing.assert_frame_equal(read_region_table(handle, "r.h5"), regions)
        assert handle["start"].dtype == np.int64


def test_region_table_missing(tmp_path: Path) -> None:
    with h5py.File(tmp_path / "r.h5", "w") as handle:
        handle["chrom"] = np.array([b"chr1"])
        with pytest.raises(InputError, match=r"no region table dataset\(s\) \['start', 'end'"):
            read_region_table(handle, "r.h5")


def test_blocks_track_done_and_pending(tmp_path: Path) -> None:
    work = WorkFolder(tmp_path / "w", MANIFEST)
    assert work.pending(0, 10) == list(range(10))
    values = _values(3)
    with ThreadPoolExecutor(2) as encoder:
        block = work.write_block(4, values, encoder)
        work.write_block(9, _values(1, 1), encoder)
    assert (block.first, block.stop) == (4, 7)
    assert work.pending(0, 10) == [0, 1, 2, 3, 7, 8]
    assert work.pending(5, 9) == [7, 8]
    chunks = list(work.read_chunks(block))
    assert [region for region, _, _ in chunks] == [4, 5, 6]
    assert [data for _, _, data in chunks] == [encode_chunk(v, 1) for v in values]


def test_temporary_files_are_not_blocks(tmp_path: Path) -> None:
    work = WorkFolder(tmp_path / "w", MANIFEST)
    work.blocks_dir.mkdir(parents=True)
    (work.blocks_dir / ".r000000000-000000004.partial-1234abcd.h5").write_bytes(b"half")
    (work.blocks_dir / "notes.txt").write_text("x")
    assert work.blocks() == [] and work.pending(0, 4) == [0, 1, 2, 3]


def test_block_shape_must_match(tmp_path: Path) -> None:
    work = WorkFolder(tmp_path / "w", MANIFEST)
    with ThreadPoolExecutor(1) as encoder, pytest.raises(ValueError, match="block shape"):
        work.write_block(0, np.zeros((1, 7, 5), "float16"), encoder)


def test_folder_for_another_extraction_is_refused(tmp_path: Path) -> None:
    WorkFolder(tmp_path / "w", MANIFEST)
    assert WorkFolder.existing(tmp_path / "w").manifest == MANIFEST
    other = {**MANIFEST, "key": {"model": "other"}, "level": 2}
    with pytest.raises(InputError, match=r"another extraction \(differs in \['key', 'level'\]\)"):
        WorkFolder(tmp_path / "w", other)


def test_existing_needs_a_manifest(tmp_path: Path) -> None:
    with pytest.raises(InputError, match="is not an embed_basenji2 work folder"):
        WorkFolder.existing(tmp_path)


def test_regions_and_merged_record(tmp_path: Path) -> None:
    work = WorkFolder(tmp_path / "w", {**MANIFEST, "n_regions": 2})
    regions = pd.DataFrame(
        {"chrom": ["chr1", "chr2"], "start": [0, 0], "end": [8, 8], "fold": ["valid", "test"]}
    )
    work.save_regions(regions)
    pd.testing.assert_frame_equal(work.load_regions(), regions)
    assert work.merged is None
    work.record_merged("s3://b/k.h5", 123)
    assert work.merged == {"uri": "s3://b/k.h5", "size": 123}
