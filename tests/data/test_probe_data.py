"""The probe-head dataset: exact items, folds, workers, S3, the cache and bad inputs."""

from __future__ import annotations

import pickle
from collections.abc import Iterator
from pathlib import Path

import h5py
import numpy as np
import pandas as pd
import pytest
import torch
from tests.deploy._s3 import Bucket, s3_bucket
from tests.training._probe_files import write_embeddings_file, write_labels_file

from exprflow.data.probe_data import ProbeData, ProbeItem
from exprflow.errors import InputError

N, BINS, CHANNELS, TRACKS = 9, 16, 8, ("lamina", "lads", "cpg")
FOLDS = np.array(["train", "train", "valid", "test", "train", "valid", "train", "test", "train"])


def _regions(n: int = N) -> pd.DataFrame:
    starts = np.arange(n) * 1000
    table = {"chrom": "chr1", "start": starts, "end": starts + 80, "fold": FOLDS[:n]}
    return pd.DataFrame(table)


def _embedding_values() -> np.ndarray:
    rng = np.random.default_rng(3)
    return rng.normal(0, 2, size=(N, BINS, CHANNELS)).astype("float16")


def _label_values(bins: int = BINS) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(4)
    binned = rng.normal(size=(N, bins, len(TRACKS))).astype("float32")
    binned[1, 3:7, 2] = np.nan  # no data: stays NaN
    single = rng.normal(size=(N, 1, len(TRACKS))).astype("float32")
    single[4, 0, 0] = np.nan
    return binned, single


def _write_embeddings(root: Path) -> Path:
    return write_embeddings_file(root, _embedding_values(), _regions())


def _write_labels(path: Path, regions: pd.DataFrame, bins: int = BINS) -> Path:
    binned, single = _label_values(bins)
    n = len(regions)
    return write_labels_file(path, regions, TRACKS, binned[:n], single[:n])


@pytest.fixture(scope="module")
def files(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    root = tmp_path_factory.mktemp("probe")
    return _write_embeddings(root), _write_labels(root / "labels.h5", _regions())


def _as_arrays(batches: Iterator[ProbeItem]) -> list[tuple[np.ndarray, ...]]:
    return [tuple(np.asarray(part) for part in batch) for batch in batches]


# --- exact items -------------------------------------------------------------------------


def test_binned_items_are_transposed_and_cast_exactly(files: tuple[Path, Path]) -> None:
    embeddings, labels = files
    with ProbeData(str(embeddings), labels, fold="train") as data:
        assert list(data.rows) == [0, 1, 4, 6, 8] and len(data) == 5
        assert data.track_names == list(TRACKS)
        assert (data.embedding_shape, data.labels_shape) == ((CHANNELS, BINS), (3, BINS))
        assert list(data.regions.index) == [0, 1, 4, 6, 8]
        item = data[1]
        assert isinstance(item, ProbeItem) and item.region == 1
        assert item.embedding.dtype == torch.float32 and item.embedding.shape == (CHANNELS, BINS)
        assert item.embedding.is_contiguous() and item.labels.is_contiguous()
        expected = _embedding_values()[1].T.astype(np.float32)
        np.testing.assert_array_equal(item.embedding.numpy(), expected)
        np.testing.assert_array_equal(item.labels.numpy(), _label_values()[0][1].T)
        assert int(item.labels.isnan().sum()) == 4  # kept for the loss to mask
        assert data[-1].region == 8


def test_single_bin_items_and_track_selection(files: tuple[Path, Path]) -> None:
    embeddings, labels = files
    data = ProbeData(str(embeddings), labels, fold="train", target="single_bin",
                     tracks=["cpg", "lamina"])  # fmt: skip
    assert data.track_names == ["cpg", "lamina"] and data.labels_shape == (2,)
    item = data[2]  # region 4
    assert item.region == 4 and item.labels.shape == (2,) and item.labels.dtype == torch.float32
    np.testing.assert_array_equal(item.labels.numpy(), _label_values()[1][4, 0, [2, 0]])
    assert torch.isnan(item.labels[1])
    np.testing.assert_array_equal(item.embedding.numpy(), _embedding_values()[4].T)
    binned = ProbeData(str(embeddings), labels, fold="test", tracks=["lads"])
    np.testing.assert_array_equal(binned[1].labels.numpy(), _label_values()[0][7, :, [1]])
    with pytest.raises(IndexError, match="item 5 out of range for 5"):
        data[5]


def test_fold_selection(files: tuple[Path, Path]) -> None:
    embeddings, labels = files
    assert list(ProbeData(str(embeddings), labels, fold="valid").rows) == [2, 5]
    assert list(ProbeData(str(embeddings), labels, fold="test").rows) == [3, 7]
    everything = ProbeData(str(embeddings), labels, fold=None)
    assert len(everything) == N and [everything[i].region for i in range(N)] == list(range(N))


# --- loaders, processes, the cache -------------------------------------------------------


def test_workers_give_the_batches_of_one_process(files: tuple[Path, Path]) -> None:
    embeddings, labels = files
    data = ProbeData(str(embeddings), labels, fold=None)
    data[0]  # this process's files are open before the workers fork
    single, workers = data.loader(4, seed=11), data.loader(4, num_workers=2, seed=11)
    epochs = [_as_arrays(iter(single)) for _ in range(2)]
    for alone in epochs:  # persistent workers, two epochs: the same as in one process
        assert all(
            all(np.array_equal(a, b, equal_nan=True) for a, b in zip(x, y, strict=True))
            for x, y in zip(_as_arrays(iter(workers)), alone, strict=True)
        )
    alone = epochs[0]
    assert [b[2].tolist() for b in epochs[1]] != [b[2].tolist() for b in alone]
    first = alone[0]
    assert first[0].shape == (4, CHANNELS, BINS) and first[1].shape == (4, 3, BINS)
    regions = np.concatenate([batch[2] for batch in alone])
    assert sorted(regions) == list(range(N)) and list(regions) != list(range(N))
    other = np.concatenate([b[2] for b in _as_arrays(iter(data.loader(4, seed=12)))])
    assert list(other) != list(regions)
    ordered = np.concatenate([b[2] for b in _as_arrays(iter(data.loader(4, shuffle=False)))])
    assert list(ordered) == list(range(N))
    data.close()


def test_cache_serves_later_epochs_without_the_file(tmp_path: Path) -> None:
    embeddings = _write_embeddings(tmp_path)
    labels = _write_labels(tmp_path / "labels.h5", _regions())
    fold_bytes = 5 * (CHANNELS * BINS + 3 * BINS) * 4
    small = ProbeData(str(embeddings), labels, cache_bytes=fold_bytes - 1)
    assert small.fold_bytes == fold_bytes and not small.cached
    data = ProbeData(str(embeddings), labels, cache_bytes=fold_bytes)
    assert data.cached
    first = [data[i] for i in range(len(data) - 1)]
    workers = data.loader(2, num_workers=2, seed=1)  # reads the last item, closes the files
    first.append(data[len(data) - 1])
    embeddings.unlink()
    labels.unlink()
    again = [data[i] for i in range(len(data))]
    for a, b in zip(first, again, strict=True):
        assert torch.equal(a.embedding, b.embedding) and a.region == b.region
        assert torch.allclose(a.labels, b.labels, equal_nan=True)
    batches = _as_arrays(iter(workers))  # the workers find everything in the cache
    assert sorted(np.concatenate([b[2] for b in batches])) == [0, 1, 4, 6, 8]
    for batch in batches:
        for k, region in enumerate(batch[2]):
            position = list(data.rows).index(region)
            np.testing.assert_array_equal(batch[0][k], first[position].embedding.numpy())
    again[0].embedding.fill_(0)  # an item is a copy: the cache is untouched
    assert torch.equal(data[0].embedding, first[0].embedding)


def test_pickled_dataset_opens_its_own_files(files: tuple[Path, Path]) -> None:
    embeddings, labels = files
    data = ProbeData(str(embeddings), labels, fold="valid")
    item = data[0]
    copy = pickle.loads(pickle.dumps(data))
    assert copy._handles is None
    assert torch.equal(copy[0].embedding, item.embedding)
    copy.close()
    data.close()
    assert torch.equal(data[0].embedding, item.embedding)  # reopened after close
    data.close()


# --- S3 ----------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def bucket() -> Iterator[Bucket]:
    with s3_bucket("probe-key", "probe-secret") as opened:
        yield opened


def test_s3_items_equal_local(
    files: tuple[Path, Path], bucket: Bucket, monkeypatch: pytest.MonkeyPatch
) -> None:
    for name, value in {
        "MLFLOW_S3_ENDPOINT_URL": bucket.endpoint, "AWS_ACCESS_KEY_ID": "probe-key",
        "AWS_SECRET_ACCESS_KEY": "probe-secret", "AWS_DEFAULT_REGION": "us-east-1",
    }.items():  # fmt: skip
        monkeypatch.setenv(name, value)
    embeddings, labels = files
    bucket.client.upload_file(str(embeddings), bucket.name, "probe/embeddings.h5")
    uri = f"s3://{bucket.name}/probe/embeddings.h5"
    local = ProbeData(str(embeddings), labels, fold=None)
    remote = ProbeData(uri, labels, fold=None)
    expected = _as_arrays(iter(local.loader(3, seed=5)))
    for workers in (0, 2):
        got = _as_arrays(iter(remote.loader(3, num_workers=workers, seed=5)))
        assert all(
            all(np.array_equal(a, b, equal_nan=True) for a, b in zip(x, y, strict=True))
            for x, y in zip(got, expected, strict=True)
        )
    local.close()
    remote.close()


# --- bad inputs --------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("change", "message"),
    [
        (
            lambda r: r.iloc[[1, 0, *range(2, N)]],
            r"region 0 is chr1 1000 1080 train here but "
            r"chr1 0 80 train in .*embeddings\.h5 \(2 region\(s\) differ\)",
        ),
        (lambda r: r.assign(start=r["start"] + (r.index == 6)), r"region 6 is chr1 6001 6080"),
        (lambda r: r.assign(fold="test"), r"region 0 is chr1 0 80 test here but chr1 0 80 train"),
        (lambda r: r.iloc[:-1], r"holds 8 regions, .*embeddings\.h5 holds 9"),
    ],
)
def test_files_that_disagree_on_regions_are_refused(
    files: tuple[Path, Path], tmp_path: Path, change: object, message: str
) -> None:
    embeddings, _ = files
    labels = _write_labels(tmp_path / "other_labels.h5", change(_regions()))  # type: ignore[operator]
    with pytest.raises(InputError, match=message) as error:
        ProbeData(str(embeddings), labels)
    assert str(error.value).startswith(str(labels)) and "same sequences.bed" in str(error.value)


def test_labels_with_other_bins_are_refused(files: tuple[Path, Path], tmp_path: Path) -> None:
    embeddings, _ = files
    labels = _write_labels(tmp_path / "labels8.h5", _regions(), bins=8)
    with pytest.raises(InputError, match=r"has 8 bins of 128 bp .*embeddings\.h5 has 16 "):
        ProbeData(str(embeddings), labels)
    assert len(ProbeData(str(embeddings), labels, target="single_bin")) == 5  # no bins there


@pytest.mark.parametrize(
    ("options", "message"),
    [
        (
            {"tracks": ["lads", "dnase"]},
            r"has no track\(s\) \['dnase'\]; its tracks are "
            r"\['lamina', 'lads', 'cpg'\]\. Fix: pass tracks= from",
        ),
        ({"tracks": []}, r"tracks \[\] must be distinct and at least one"),
        ({"tracks": ["cpg", "cpg"]}, r"tracks \['cpg', 'cpg'\] must be distinct"),
        (
            {"fold": "training"},
            r"fold: fold 'training' is not one of \['train', 'valid', "
            r"'test'\]\. Fix: .*this file has \['test', 'train', 'valid'\]",
        ),
        (
            {"target": "64bp_bins"},
            r"target: has no target '64bp_bins'; it holds '128bp_bins' "
            r"and 'single_bin'",
        ),
    ],
)
def test_bad_options_are_refused(
    files: tuple[Path, Path], options: dict[str, object], message: str
) -> None:
    embeddings, labels = files
    with pytest.raises(InputError, match=message):
        ProbeData(str(embeddings), labels, **options)  # type: ignore[arg-type]


def test_a_fold_without_regions_and_missing_files_are_refused(
    files: tuple[Path, Path], tmp_path: Path
) -> None:
    embeddings, labels = files
    regions = _regions().assign(fold="train")
    work = tmp_path / "train_only"
    work.mkdir()
    only_train = _write_labels(work / "labels.h5", regions)
    with h5py.File(work / "e.h5", "w") as h5, h5py.File(embeddings, "r") as source:
        for name in source:
            source.copy(name, h5)
        h5.attrs.update(source.attrs)
        del h5["fold"]
        h5["fold"] = np.array(["train"] * N, dtype=h5py.string_dtype())
    with pytest.raises(InputError, match=r"holds no region of fold 'test' \(its folds: \['train"):
        ProbeData(str(work / "e.h5"), only_train, fold="test")
    with pytest.raises(InputError, match="does not exist"):
        ProbeData(str(tmp_path / "none.h5"), labels)
    with pytest.raises(InputError, match="labels file not found"):
        ProbeData(str(embeddings), tmp_path / "none.h5")
