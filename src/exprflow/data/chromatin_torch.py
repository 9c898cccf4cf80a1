"""Torch view of one cell type's chromatin features: the batch dict the models read.

:class:`ChromatinDataset` wraps a :class:`~exprflow.data.chromatin_dataset.ChromatinFeatures`
(one cell type, ``G`` genes, ``M`` marks), one target per gene and the rows to use. Item
``i`` is a dict of tensors for gene ``indices[i]``; the default collate stacks items into
the **batch dict**::

    promoter_{r}  (B, 40000 // r, M)     float32   r in 2000, 500, 100
    pcre_{r}      (B, 8, 40000 // r, M)  float32
    pcre_length   (B, 8)                 int64     bp, 0 = absent
    pcre_score    (B, 8)                 float32
    promoter_cnn  (B, 60, M)             float32   TSS ± 3 kb (cnn_window)
    target        (B,)                   float32 (regression: log2(RPKM + 1))
                                         or int64 (classification: 0/1 label)

The task follows the dtype of ``targets``: integer or boolean targets are class labels,
floating ones regression values. Models read the keys they need and ignore the rest.

Fast path: a training loop need not collate item by item. :meth:`ChromatinDataset.tensors`
gathers every row of the requested keys once (cached) and :func:`stack_dataset` does the
same for any map-style dataset of dicts, so an epoch is just index slicing.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence

import numpy as np
import torch
from torch import Tensor
from torch.utils.data import Dataset, default_collate

from exprflow.data.chromatin_dataset import ChromatinFeatures, cnn_window
from exprflow.errors import InputError

__all__ = ["TARGET_KEY", "ChromatinDataset", "gene_indices", "stack_dataset"]

#: Key of the target in an item and a batch.
TARGET_KEY = "target"


def gene_indices(features: ChromatinFeatures, gene_ids: Iterable[str]) -> np.ndarray:
    """Row positions of ``gene_ids`` in ``features`` (in the order given).

    Parameters
    ----------
    features : ChromatinFeatures
        One cell type's features.
    gene_ids : iterable of str
        Genes to find (e.g. one side of a fold split).

    Returns
    -------
    numpy.ndarray
        int64 positions into ``features.gene_id``.

    Raises
    ------
    InputError
        When a gene is not in the features (the first few missing are named).
    """
    position = {str(gene): i for i, gene in enumerate(features.gene_id)}
    wanted = [str(gene) for gene in gene_ids]
    missing = [gene for gene in wanted if gene not in position]
    if missing:
        raise InputError(
            f"features of {features.eid}",
            f"{len(missing)} genes are not in the features, e.g. {missing[:5]}.",
            fix="take the gene ids from the same cell type's train.csv rows.",
        )
    return np.asarray([position[gene] for gene in wanted], dtype=np.int64)


def _feature_arrays(features: ChromatinFeatures) -> dict[str, np.ndarray]:
    """Every batch key's full ``(G, …)`` array (``promoter_cnn`` is added lazily)."""
    arrays: dict[str, np.ndarray] = {}
    for r, array in sorted(features.promoter.items(), reverse=True):
        arrays[f"promoter_{r}"] = array
    for r, array in sorted(features.pcre.items(), reverse=True):
        arrays[f"pcre_{r}"] = array
    arrays["pcre_length"] = features.pcre_length
    arrays["pcre_score"] = features.pcre_score
    n_genes = len(features.gene_id)
    for key, array in arrays.items():
        if array.shape[:1] != (n_genes,):
            raise ValueError(
                f"features of {features.eid}: {key} has shape {array.shape}, expected "
                f"{n_genes} rows (one per gene_id)"
            )
    return arrays


_DTYPES = {"pcre_length": torch.int64}


def _check_targets(targets: np.ndarray, n_genes: int) -> np.ndarray:
    """Return targets as int64 labels or float32 values; ValueError when unusable."""
    targets = np.asarray(targets)
    if targets.shape != (n_genes,):
        raise ValueError(f"targets must have shape ({n_genes},), got {targets.shape}")
    if targets.dtype.kind in "biu":
        if not np.isin(targets, (0, 1)).all():
            raise ValueError(
                f"integer targets are class labels and must be 0 or 1, got values "
                f"{np.unique(targets)[:5].tolist()}"
            )
        return targets.astype(np.int64)
    if targets.dtype.kind != "f":
        raise ValueError(f"targets must be numeric, got dtype {targets.dtype}")
    if not np.isfinite(targets).all():
        raise ValueError(f"targets hold {int((~np.isfinite(targets)).sum())} non-finite values")
    return targets.astype(np.float32)


def _check_indices(indices: np.ndarray | Sequence[int] | None, n_genes: int) -> np.ndarray:
    """Return int64 row positions; ValueError when not 1-D integers in range."""
    if indices is None:
        return np.arange(n_genes, dtype=np.int64)
    array = np.asarray(indices)
    if array.size == 0:
        return np.zeros(0, dtype=np.int64)
    if array.ndim != 1 or array.dtype.kind not in "iu":
        raise ValueError(
            f"indices must be a 1-D array of integer row positions, got {array.dtype} "
            f"with shape {array.shape}"
        )
    if array.min() < 0 or array.max() >= n_genes:
        raise ValueError(
            f"indices must lie in [0, {n_genes}), got {int(array.min())}..{int(array.max())}"
        )
    return array.astype(np.int64)


class ChromatinDataset(Dataset[dict[str, Tensor]]):
    """Genes ``indices`` of one cell type as a map-style dataset of batch-dict items.

    Parameters
    ----------
    features : ChromatinFeatures
        One cell type's features (``G`` genes, ``M`` marks).
    targets : numpy.ndarray
        ``(G,)``, one per gene of ``features`` (all of them, not only ``indices``):
        0/1 integers (classification) or finite floats (regression).
    indices : numpy.ndarray or sequence of int, optional
        Rows of ``features`` in this dataset, in order (see :func:`gene_indices`).
        Default None: every gene.
    keys : sequence of str, optional
        Feature keys to produce (``target`` is always added). Default None: all of
        :attr:`available_keys`.

    Raises
    ------
    ValueError
        On targets of the wrong length, non-finite values or labels other than 0/1;
        indices out of range; feature arrays with a row count other than ``G``; an
        unknown key.
    """

    def __init__(
        self,
        features: ChromatinFeatures,
        targets: np.ndarray,
        indices: np.ndarray | Sequence[int] | None = None,
        *,
        keys: Sequence[str] | None = None,
    ):
        self.features = features
        self._arrays = _feature_arrays(features)
        n_genes = len(features.gene_id)
        self.targets = _check_targets(targets, n_genes)
        self.indices = _check_indices(indices, n_genes)
        available = self.available_keys
        self.keys = tuple(available if keys is None else keys)
        unknown = sorted(set(self.keys) - set(available))
        if unknown:
            raise ValueError(f"unknown keys {unknown}, expected some of {list(available)}")
        self._stacked: dict[str, Tensor] = {}

    @property
    def available_keys(self) -> tuple[str, ...]:
        """Feature keys these features can produce (``promoter_cnn`` needs 100 bp)."""
        keys = tuple(self._arrays)
        return (*keys, "promoter_cnn") if 100 in self.features.promoter else keys

    @property
    def task(self) -> str:
        """``"classification"`` (int64 targets) or ``"regression"`` (float32)."""
        return "classification" if self.targets.dtype == np.int64 else "regression"

    @property
    def gene_id(self) -> np.ndarray:
        """Gene ids of the dataset's rows, in order."""
        return np.asarray(self.features.gene_id)[self.indices]

    def __len__(self) -> int:
        """Number of genes in the dataset."""
        return len(self.indices)

    def _rows(self, key: str, rows: np.ndarray) -> Tensor:
        """``key`` for feature rows ``rows`` as a tensor of the batch dtype."""
        if key == TARGET_KEY:
            array = self.targets[rows]
        elif key == "promoter_cnn":
            array = cnn_window(self._arrays["promoter_100"][rows])
        else:
            array = self._arrays[key][rows]
        tensor = torch.from_numpy(np.array(array, copy=True))
        if key in _DTYPES:
            return tensor.to(_DTYPES[key])
        return tensor if key == TARGET_KEY else tensor.to(torch.float32)

    def __getitem__(self, index: int) -> dict[str, Tensor]:
        """Item ``index``: every key of :attr:`keys` plus ``target`` for one gene."""
        if not -len(self) <= index < len(self):
            raise IndexError(f"index {index} out of range for {len(self)} genes")
        return {key: self._rows(key, self.indices[[index]])[0] for key in (*self.keys, TARGET_KEY)}

    def tensors(self, keys: Sequence[str] | None = None) -> dict[str, Tensor]:
        """Every row of ``keys`` (plus ``target``) stacked into one batch dict (cached).

        Parameters
        ----------
        keys : sequence of str, optional
            Subset of :attr:`keys`. Default None: all of them.

        Returns
        -------
        dict of str to torch.Tensor
            As a full-dataset batch: first dimension ``len(self)``, CPU tensors.

        Raises
        ------
        ValueError
            On a key the dataset does not produce.
        """
        wanted = tuple(self.keys if keys is None else keys)
        unknown = sorted(set(wanted) - set(self.keys))
        if unknown:
            raise ValueError(f"unknown keys {unknown}, expected some of {list(self.keys)}")
        for key in (*wanted, TARGET_KEY):
            if key not in self._stacked:
                self._stacked[key] = self._rows(key, self.indices)
        return {key: self._stacked[key] for key in (*wanted, TARGET_KEY)}


def stack_dataset(
    dataset: Dataset[dict[str, Tensor]], keys: Sequence[str] | None = None
) -> dict[str, Tensor]:
    """Stack a whole map-style dataset of dict items into one batch dict.

    Parameters
    ----------
    dataset : torch.utils.data.Dataset
        Items are dicts of tensors with a ``target``; a :class:`ChromatinDataset` uses
        its cached :meth:`~ChromatinDataset.tensors`, any other is collated item by item.
    keys : sequence of str, optional
        Keys to keep (``target`` always kept; keys the items lack are skipped). Default
        None: all.

    Returns
    -------
    dict of str to torch.Tensor
        First dimension ``len(dataset)``.

    Raises
    ------
    ValueError
        When the dataset is empty or its items have no ``target``.
    """
    size = len(dataset)  # type: ignore[arg-type]
    if size == 0:
        raise ValueError("the dataset is empty")
    if isinstance(dataset, ChromatinDataset):
        present = dataset.keys if keys is None else [k for k in keys if k in dataset.keys]
        return dataset.tensors(present)
    batch = default_collate([dataset[i] for i in range(size)])
    if not isinstance(batch, dict) or TARGET_KEY not in batch:
        raise ValueError(f"dataset items must be dicts with a {TARGET_KEY!r} tensor")
    if keys is None:
        return dict(batch)
    return {k: v for k, v in batch.items() if k in keys or k == TARGET_KEY}
