"""A PyTorch dataset of Basenji2 embeddings and their labels, one fold, for probe heads.

**Inputs.** An embeddings file written by ``embed_basenji2`` (local path or ``s3://``
URI; layout in :mod:`exprflow.embedding.layout`) and the labels file written by
``prepare`` (local path; layout in :mod:`exprflow.data.label_file`). The two must hold
the same regions in the same order, folds included
(:func:`~exprflow.data.label_file.check_same_regions`); for the binned target the
embeddings' bins must be the labels' bins.

**Items.** ``ProbeItem(embedding, labels, region)`` for each region of the fold, in
file order:

- ``embedding``: float32 tensor ``(channels, bins)`` — the file's ``(bins, channels)``
  float16 transposed (channels first, as ``torch.nn.Conv1d`` takes it) and cast exactly;
- ``labels``: float32 tensor ``(tracks, bins)`` for target ``128bp_bins`` (the labels'
  ``{bin_size}bp_bins``, transposed like the embedding) or ``(tracks,)`` for
  ``single_bin``, tracks in the order asked for. **NaN means no data** (a methylation
  fraction away from CpGs, a ``mean``/``max`` bin without signal) and is kept: the
  training loss must mask it (e.g. ``loss[~labels.isnan()]``);
- ``region``: the region's row in the files' region table (an ``int``; a batch's is an
  int64 tensor).

:func:`torch.utils.data.default_collate` batches items into a ``ProbeItem`` of tensors
``(batch, channels, bins)``, ``(batch, tracks[, bins])`` and ``(batch,)``.

**Memory.** The embeddings are never loaded whole: each item reads its region, one HDF5
chunk (one ranged GET on S3 once the file's metadata is cached). ``single_bin`` labels of
the fold are read at construction, ``regions × tracks × 4`` bytes (2.7 MB for 38,171
regions × 18 tracks); ``128bp_bins`` labels are read per item like the embeddings (one
chunk of ``bins × tracks`` float32 per region: 64 KB for 896 × 18, 2.5 GB for the
published 38,171 regions, so not held). With ``cache_bytes`` at least the fold's decoded
size (:attr:`ProbeData.fold_bytes`: ``regions × (channels × bins + label values) × 4``,
33.5 MB for the demo world's 146 regions × 896 × 64 alone), decoded items are kept in
memory as they are first read, so later epochs read no file; otherwise nothing is kept.

**Processes.** HDF5 handles and :class:`~exprflow.storage.range_file.S3RangeFile` must
not cross a ``fork``: files are opened on first use in each process (keyed by
:func:`os.getpid`), never in the constructor, and dropped when the dataset is pickled (a
``spawn`` worker). :meth:`ProbeData.loader` gives a :class:`~torch.utils.data.DataLoader`
whose shuffling draws from its own seeded generator, so ``num_workers`` does not change
the batches; with a cache it fills the cache before the workers start, so they share it
(copy-on-write) instead of each building its own.

**Throughput** (demo world, 146 regions × 896 bins × 64 channels, 16 tracks, batches of
16, 2 CPU cores, regions/s): local file ~800 without the cache (0 or 2 workers); S3 on a
loopback moto server ~60 in one process, ~120 with 2 workers; a full cache ~10,000 with
``num_workers=0`` but ~2,000 with 2 workers (passing tensors between processes costs
more than reading memory), so read a cached fold in the training process.
"""

from __future__ import annotations

import logging
import os
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, NamedTuple

import numpy as np
import pandas as pd
import torch
from torch.utils.data import DataLoader, Dataset, RandomSampler, SequentialSampler

from exprflow.data.label_file import (
    Labels,
    bins_dataset,
    check_same_regions,
    finite_means,
    read_labels,
)
from exprflow.data.regions import FOLDS
from exprflow.embedding.reader import EmbeddingFile
from exprflow.errors import InputError
from exprflow.genome._closing import Closing

__all__ = ["SINGLE_BIN", "ProbeData", "ProbeItem"]

log = logging.getLogger(__name__)

#: Target of one value per track and region (the labels' ``single_bin`` dataset).
SINGLE_BIN = "single_bin"


class ProbeItem(NamedTuple):
    """One region's embedding, labels and row (or a batch of them, as tensors).

    Attributes
    ----------
    embedding : torch.Tensor
        float32 ``(channels, bins)``; batched ``(batch, channels, bins)``.
    labels : torch.Tensor
        float32 ``(tracks, bins)`` or ``(tracks,)``, NaN where there is no data.
    region : int or torch.Tensor
        The region's row in the region table; batched an int64 ``(batch,)`` tensor.
    """

    embedding: torch.Tensor
    labels: torch.Tensor
    region: Any


@dataclass
class _Handles:
    """The files open in process ``pid`` (labels only when read per item)."""

    pid: int
    embeddings: EmbeddingFile
    labels: Labels | None

    def close(self) -> None:
        self.embeddings.close()
        if self.labels is not None:
            self.labels.close()


class _Cache:
    """Decoded items of a fold: preallocated arrays and which positions are filled."""

    def __init__(self, n: int, embedding: tuple[int, ...], labels: tuple[int, ...]) -> None:
        self.embeddings = np.empty((n, *embedding), np.float32)
        self.labels = np.empty((n, *labels), np.float32)
        self.filled = np.zeros(n, bool)


def _select_tracks(labels: Labels, tracks: Sequence[str] | None) -> np.ndarray:
    """Column indices of ``tracks`` in the labels (all when None); clear errors."""
    names = labels.track_names
    if tracks is None:
        return np.arange(len(names))
    wanted = [tracks] if isinstance(tracks, str) else list(tracks)
    fix = f"pass tracks= from {names}, or tracks=None for all."
    unknown = [name for name in wanted if name not in names]
    if unknown or not wanted or len(set(wanted)) != len(wanted):
        problem = (
            f"has no track(s) {unknown}"
            if unknown
            else f"tracks {wanted} must be distinct and at least one"
        )
        raise InputError(labels.path, f"{problem}; its tracks are {names}.", fix=fix)
    return np.array([names.index(name) for name in wanted])


def _fold_rows(regions: pd.DataFrame, fold: str | None, source: str) -> np.ndarray:
    """Rows of fold ``fold`` (every row when None); clear errors."""
    if fold is None:
        return np.arange(len(regions))
    present = sorted(set(regions["fold"]))
    if fold not in FOLDS:
        raise InputError(
            source,
            f"fold {fold!r} is not one of {list(FOLDS)}.",
            record="fold",
            fix=f"pass fold= one of {list(FOLDS)} (this file has {present}), or None for all.",
        )
    rows = np.flatnonzero(regions["fold"].to_numpy() == fold)
    if not rows.size:
        raise InputError(
            source,
            f"holds no region of fold {fold!r} (its folds: {present}).",
            record="fold",
            fix="choose another fold, or give sequences.bed regions in this fold.",
        )
    return rows


def _check_target(labels: Labels, target: str, bins: int, source: str) -> None:
    """Refuse a target the labels lack, or bins that differ from the embeddings'."""
    binned = bins_dataset(labels.bin_size)
    if target not in (binned, SINGLE_BIN):
        raise InputError(
            labels.path,
            f"has no target {target!r}; it holds {binned!r} and {SINGLE_BIN!r}.",
            record="target",
            fix=f"pass target={binned!r} (labels per bin) or {SINGLE_BIN!r} (one per region).",
        )
    if target == binned and labels.bins.shape[1] != bins:
        raise InputError(
            labels.path,
            f"has {labels.bins.shape[1]} bins of {labels.bin_size} bp per region, but "
            f"{source} has {bins} embedding bins.",
            fix="build the labels with the bin size and crop of the embeddings' model.",
        )


class ProbeData(Dataset[ProbeItem], Closing):
    """One fold of embeddings and labels, read region by region (see the module docstring).

    Parameters
    ----------
    embeddings : str
        The embeddings file: local path, ``file://…`` or ``s3://bucket/key``.
    labels : str or PathLike
        The labels file (local).
    fold : str or None, optional
        ``"train"``, ``"valid"`` or ``"test"`` from the region table; None for every
        region. Default ``"train"``.
    target : str, optional
        ``"128bp_bins"`` (the labels' ``{bin_size}bp_bins``; labels ``(tracks, bins)``)
        or ``"single_bin"`` (labels ``(tracks,)``). Default ``"128bp_bins"``.
    tracks : sequence of str or None, optional
        Track identifiers to return, in this order; None (default) for all, in file order.
    cache_bytes : int, optional
        Keep decoded items in memory when the fold's :attr:`fold_bytes` is at most this;
        0 (default) keeps nothing.

    Attributes
    ----------
    rows : numpy.ndarray
        The fold's rows of the region table, ascending; item ``i`` is region ``rows[i]``.
    regions : pandas.DataFrame
        The fold's regions (``chrom``, ``start``, ``end``, ``fold``), indexed by row.
    track_names : list of str
        The tracks returned, in order.
    embedding_shape, labels_shape : tuple of int
        One item's ``(channels, bins)`` and ``(tracks, bins)`` or ``(tracks,)``.
    fold_bytes : int
        The fold's decoded size, embeddings and labels, float32.

    Raises
    ------
    InputError
        A file cannot be read; the files disagree on the regions (naming both and the
        first region that differs) or on the bins; an unknown track, fold or target; a
        fold without regions.
    """

    def __init__(
        self,
        embeddings: str,
        labels: str | os.PathLike[str],
        *,
        fold: str | None = "train",
        target: str = "128bp_bins",
        tracks: Sequence[str] | None = None,
        cache_bytes: int = 0,
    ) -> None:
        self.embeddings_uri, self.labels_path = str(embeddings), os.fspath(labels)
        self.fold, self.target = fold, target
        with EmbeddingFile(self.embeddings_uri) as emb, read_labels(labels) as lab:
            check_same_regions(lab, emb.regions, self.embeddings_uri)
            _, bins, channels = emb.shape
            _check_target(lab, target, bins, self.embeddings_uri)
            self._columns = _select_tracks(lab, tracks)
            self.rows = _fold_rows(emb.regions, fold, self.embeddings_uri)
            self.regions = emb.regions.iloc[self.rows]
            self.track_names = [lab.track_names[k] for k in self._columns]
            self._single = (
                lab.single_bin[()][self.rows, 0][:, self._columns] if target == SINGLE_BIN else None
            )
        n_tracks = len(self._columns)
        self.embedding_shape = (channels, bins)
        self.labels_shape = (n_tracks,) if target == SINGLE_BIN else (n_tracks, bins)
        per_item = channels * bins + int(np.prod(self.labels_shape))
        self.fold_bytes = len(self.rows) * per_item * 4
        self._handles: _Handles | None = None
        self._cache = self._make_cache(cache_bytes)

    def _make_cache(self, cache_bytes: int) -> _Cache | None:
        if cache_bytes <= 0:
            return None
        if self.fold_bytes > cache_bytes:
            log.info(
                "fold %s (%.1f MB decoded) exceeds cache_bytes %.1f MB: read per item",
                self.fold,
                self.fold_bytes / 1e6,
                cache_bytes / 1e6,
            )
            return None
        return _Cache(len(self.rows), self.embedding_shape, self.labels_shape)

    @property
    def cached(self) -> bool:
        """Whether decoded items are kept in memory (the fold fits ``cache_bytes``)."""
        return self._cache is not None

    def __len__(self) -> int:
        return len(self.rows)

    def __getitem__(self, index: int) -> ProbeItem:
        """Item ``index`` of the fold (region ``rows[index]``), from the cache or the files."""
        if not -len(self) <= index < len(self):
            raise IndexError(f"item {index} out of range for {len(self)} regions of the fold")
        position = index % len(self)
        cache = self._cache
        if cache is not None and cache.filled[position]:
            embedding, labels = cache.embeddings[position].copy(), cache.labels[position].copy()
        else:
            embedding, labels = self._read(position)
            if cache is not None:
                cache.embeddings[position], cache.labels[position] = embedding, labels
                cache.filled[position] = True
        region = int(self.rows[position])
        return ProbeItem(torch.from_numpy(embedding), torch.from_numpy(labels), region)

    def _read(self, position: int) -> tuple[np.ndarray, np.ndarray]:
        """Decode item ``position`` from the files: embedding and labels, float32."""
        handles = self._open()
        row = int(self.rows[position])
        embedding = np.ascontiguousarray(handles.embeddings.region(row).T, dtype=np.float32)
        if self._single is not None:
            return embedding, self._single[position].copy()
        assert handles.labels is not None  # opened for the binned target
        binned = np.asarray(handles.labels.bins[row], np.float32)  # (bins, all tracks)
        return embedding, np.ascontiguousarray(binned[:, self._columns].T)

    def _open(self) -> _Handles:
        """Return this process's files, opened on first use (never inherited handles)."""
        pid = os.getpid()
        if self._handles is None or self._handles.pid != pid:
            # A forked child drops the parent's handles unused: they belong to the parent.
            emb = EmbeddingFile(self.embeddings_uri)
            try:
                labels = read_labels(self.labels_path) if self._single is None else None
            except BaseException:
                emb.close()
                raise
            self._handles = _Handles(pid, emb, labels)
        return self._handles

    def track_means(self, block: int = 256) -> np.ndarray:
        """Each track's mean finite label over the fold, read from the labels file alone.

        Parameters
        ----------
        block : int, optional
            Regions read at once for the binned target. Default 256.

        Returns
        -------
        numpy.ndarray
            float64 ``(tracks,)``; NaN for a track without any finite label in the fold.
        """
        if self._single is not None:
            return finite_means(self._single, np.arange(len(self._single)), block)
        with read_labels(self.labels_path) as labels:
            return finite_means(labels.bins, self.rows, block)[self._columns]

    def fill_cache(self) -> None:
        """Read every item not yet cached, then close the files (no-op without a cache)."""
        if self._cache is None:
            return
        for position in np.flatnonzero(~self._cache.filled):
            self[int(position)]
        self.close()

    def close(self) -> None:
        """Close this process's files; the next item opens them again. The cache stays."""
        handles, self._handles = self._handles, None
        if handles is not None and handles.pid == os.getpid():
            handles.close()

    def __getstate__(self) -> dict[str, Any]:
        """Pickle without open files (a ``spawn`` worker opens its own)."""
        state = dict(self.__dict__)
        state["_handles"] = None
        return state

    def loader(
        self,
        batch_size: int,
        *,
        shuffle: bool = True,
        num_workers: int = 0,
        seed: int = 0,
        drop_last: bool = False,
    ) -> DataLoader[ProbeItem]:
        """A DataLoader over the fold whose order depends on ``seed`` only.

        Parameters
        ----------
        batch_size : int
            Items per batch.
        shuffle : bool, optional
            Shuffle every epoch: a new order each epoch, drawn from a generator seeded
            with ``seed`` and used for nothing else. Default True.
        num_workers : int, optional
            Worker processes (0: read in this process). Workers persist across epochs,
            keeping their open files; the batches are the same for any number. They
            help reading from files (S3 above all), not a cached fold. Default 0.
        seed : int, optional
            Seed of the order and of the workers' base seed (the global RNG is not
            used). Default 0.
        drop_last : bool, optional
            Drop a last incomplete batch. Default False.

        Returns
        -------
        torch.utils.data.DataLoader
            Yielding ``ProbeItem`` batches (module docstring).
        """
        if num_workers > 0:
            self.fill_cache()  # workers then share the parent's cache
        # The sampler has a generator of its own: the loader's draws a base seed per epoch
        # without persistent workers but once with them, which would shift the orders.
        order = torch.Generator().manual_seed(seed)
        sampler = RandomSampler(self, generator=order) if shuffle else SequentialSampler(self)
        return DataLoader(
            self,
            batch_size=batch_size,
            sampler=sampler,
            num_workers=num_workers,
            generator=torch.Generator().manual_seed(seed),
            drop_last=drop_last,
            persistent_workers=num_workers > 0,
        )
