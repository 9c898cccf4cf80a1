"""Batches of a Basenji2 training fold for Keras, read from the FASTA and labels on demand.

:class:`RegionBatches` reads one batch at a time: one-hot ``A, C, G, T`` from the FASTA
and the batch's rows of the labels HDF5 divided by the per-track training means
(:func:`~exprflow.training.basenji2_data.track_means`); NaN labels (bins without data)
stay NaN for the loss to skip. Nothing holds more than one batch, so the published
38,171 regions train as the demo's 146 do.
"""

from __future__ import annotations

import h5py
import keras
import numpy as np
import pandas as pd

from exprflow.genome.fasta import Genome
from exprflow.genome.onehot import ACGT, one_hot_batch

__all__ = ["RegionBatches"]


class RegionBatches(keras.utils.PyDataset):
    """Batches ``(one-hot, labels / means)`` of some regions, read when asked for.

    Parameters
    ----------
    genome : Genome
        The FASTA, open for the dataset's life.
    regions : pandas.DataFrame
        ``chrom``, ``start``, ``end`` of every region (row = labels row).
    rows : numpy.ndarray
        The rows this dataset serves (a fold).
    labels : h5py.Dataset
        ``(regions, bins, tracks)`` float32 labels, open for the dataset's life.
    means : numpy.ndarray
        ``(tracks,)`` divisors (:func:`~exprflow.training.basenji2_data.track_means`).
    batch_size : int
        Regions per batch (the last batch may be smaller).
    seed : int or None, optional
        Shuffle the rows with this seed, again after each epoch; None keeps the order
        (validation). Default None.

    Notes
    -----
    One worker, no multiprocessing: a FASTA handle is not shared between threads. The
    Keras TensorFlow adapter still prefetches batches in a tf.data thread.
    """

    def __init__(
        self,
        genome: Genome,
        regions: pd.DataFrame,
        rows: np.ndarray,
        labels: h5py.Dataset,
        means: np.ndarray,
        batch_size: int,
        seed: int | None = None,
    ) -> None:
        super().__init__(workers=1, use_multiprocessing=False)
        self._genome = genome
        self._spans = regions[["chrom", "start", "end"]].to_numpy()
        self._labels = labels
        self._scale = (1.0 / np.asarray(means, np.float64)).astype(np.float32)
        self._batch_size = batch_size
        self._rng = None if seed is None else np.random.default_rng(seed)
        self._rows = np.asarray(rows)
        self.order = self._shuffled()

    def _shuffled(self) -> np.ndarray:
        """The rows in this epoch's order."""
        return self._rows if self._rng is None else self._rng.permutation(self._rows)

    def __len__(self) -> int:
        """Batches per epoch."""
        return -(-len(self._rows) // self._batch_size)

    def __getitem__(self, index: int) -> tuple[np.ndarray, np.ndarray]:
        """Batch ``index``: one-hot ``(B, seq_length, 4)``, labels ``(B, bins, tracks)``."""
        rows = self.order[index * self._batch_size : (index + 1) * self._batch_size]
        sequences = [self._genome.fetch(str(c), int(s), int(e)) for c, s, e in self._spans[rows]]
        ascending = np.sort(rows)
        labels = self._labels[ascending][np.searchsorted(ascending, rows)]
        return one_hot_batch(sequences, ACGT), labels * self._scale

    def on_epoch_end(self) -> None:
        """Reshuffle (training rows only)."""
        self.order = self._shuffled()

    def __repr__(self) -> str:
        return f"RegionBatches({len(self._rows)} regions, batch {self._batch_size})"
