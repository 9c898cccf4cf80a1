"""Haplotype tokens of ``dataset.parquet`` genotype strings and the torch datasets over them.

Codes and tokens
    A genotype string holds one character per SNP: ``R`` (0|0), ``F`` (0|1), ``M`` (1|0),
    ``B`` (1|1), ``N`` (missing or unphased). It splits into two haplotype rows of
    ``"RAN"`` tokens (R = 0, A = 1, N = 2): row 0, the "father" (the VCF's second allele),
    has A at F and B; row 1, the "mother", has A at M and B; N stays N in both.
    :func:`genotype_codes` merges two rows back (N where either row is N).
Datasets
    ``table`` is :func:`~exprflow.data.mlm_dataset.read_mlm_dataset`'s frame (columns
    ``sample``, ``gene_id``, ``seq``; rows addressed by position). :class:`HaplotypeDataset`
    yields one haplotype per item (father or mother, p = 0.5), masked for training;
    :class:`GenotypeDataset` yields both haplotypes of one individual with the same
    targets, for genotype metrics. Every random choice of an item comes from
    ``(seed, epoch, index)``, so a run is reproducible; call ``set_epoch`` before each
    epoch (before the DataLoader's workers start) for fresh masks.
Batches
    Sequences of different SNP counts cannot be stacked: draw batches of one length with
    :class:`LengthBatchSampler`. :func:`collate_haplotypes` and :func:`collate_genotypes`
    refuse items of unequal lengths with a clear error.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping, Sequence
from typing import Any

import numpy as np
import pandas as pd
import torch
from torch.utils.data import Dataset, Sampler

from exprflow.training.mlm_masking import MaskSettings, apply_mask, one_hot, training_mask

__all__ = [
    "HAPLOTYPE_TOKENS",
    "GenotypeDataset",
    "HaplotypeDataset",
    "LengthBatchSampler",
    "collate_genotypes",
    "collate_haplotypes",
    "genotype_codes",
    "genotype_string",
    "haplotype_batch",
    "haplotype_tokens",
    "one_hot",
]

#: Haplotype token alphabet: R = 0 (reference), A = 1 (alternative), N = 2 (unknown).
HAPLOTYPE_TOKENS = "RAN"
_GENOTYPES = "RFMBN"
_INVALID = 255
_R, _A, _N = 0, 1, 2
# Byte → (father, mother) token; _INVALID for characters outside RFMBN.
_LOOKUP = np.full((256, 2), _INVALID, dtype=np.uint8)
for _code, _pair in zip(
    _GENOTYPES, [(_R, _R), (_A, _R), (_R, _A), (_A, _A), (_N, _N)], strict=True
):
    _LOOKUP[ord(_code)] = _pair


def _bad_character(seq: str, position: int) -> ValueError:
    return ValueError(
        f"genotype string: character {seq[position]!r} at position {position} "
        f"is not one of {_GENOTYPES}"
    )


def haplotype_tokens(seq: str) -> np.ndarray:
    """Split one genotype string into its two haplotype token rows.

    Parameters
    ----------
    seq : str
        Genotype string of ``R``, ``F``, ``M``, ``B``, ``N`` (one per SNP).

    Returns
    -------
    numpy.ndarray
        uint8 ``(2, L)``: row 0 father, row 1 mother, tokens R = 0, A = 1, N = 2.

    Raises
    ------
    ValueError
        Naming the first position and character outside ``RFMBN`` (the caller adds
        the file and record).
    """
    try:
        raw = np.frombuffer(seq.encode("ascii"), dtype=np.uint8)
    except UnicodeEncodeError as err:
        raise _bad_character(seq, err.start) from None
    tokens = _LOOKUP[raw]
    bad = np.flatnonzero(tokens[:, 0] == _INVALID)
    if bad.size:
        raise _bad_character(seq, int(bad[0]))
    return np.ascontiguousarray(tokens.T)


def haplotype_batch(seqs: Sequence[str]) -> np.ndarray:
    """Haplotype tokens of several individuals at one gene, unmasked.

    Parameters
    ----------
    seqs : sequence of str
        ``N`` genotype strings of equal length (e.g. ``table["seq"]`` of one gene).

    Returns
    -------
    numpy.ndarray
        uint8 ``(2N, L)``: rows ``2i`` and ``2i + 1`` are individual ``i``'s father and
        mother (``reshape(N, 2, L)`` gives them per individual).
    """
    seqs = list(seqs)
    lengths = {len(s) for s in seqs}
    if len(lengths) > 1:
        raise ValueError(f"genotype strings differ in length ({sorted(lengths)}); one gene only")
    length = lengths.pop() if lengths else 0
    out = np.empty((len(seqs), 2, length), dtype=np.uint8)
    for i, seq in enumerate(seqs):
        try:
            out[i] = haplotype_tokens(seq)
        except ValueError as err:
            raise ValueError(f"string {i}: {err}") from None
    return out.reshape(2 * len(seqs), length)


def genotype_codes(tokens: np.ndarray) -> np.ndarray:
    """Merge father and mother token rows back into genotype codes.

    Parameters
    ----------
    tokens : numpy.ndarray
        Integer ``(..., 2, L)`` haplotype tokens in 0..2 (father, mother).

    Returns
    -------
    numpy.ndarray
        uint8 ``(..., L)``: indices into ``"RFMBN"`` (R 0, F 1, M 2, B 3, N 4); N where
        either haplotype is N.
    """
    tokens = np.asarray(tokens)
    if tokens.ndim < 2 or tokens.shape[-2] != 2:
        raise ValueError(f"tokens must be (..., 2, L), got {tokens.shape}")
    if tokens.size and (tokens.min() < 0 or tokens.max() > _N):
        raise ValueError(f"tokens must be in 0..{_N}, got {tokens.min()}..{tokens.max()}")
    father, mother = tokens[..., 0, :].astype(np.uint8), tokens[..., 1, :].astype(np.uint8)
    codes = father + 2 * mother
    return np.where((father == _N) | (mother == _N), 4, codes).astype(np.uint8)


def genotype_string(tokens: np.ndarray) -> str:
    """The genotype string of one individual's two haplotype rows.

    Parameters
    ----------
    tokens : numpy.ndarray
        ``(2, L)`` haplotype tokens (father, mother).

    Returns
    -------
    str
        ``L`` characters of ``RFMBN``.
    """
    codes = genotype_codes(tokens)
    if codes.ndim != 1:
        raise ValueError(f"tokens must be (2, L), got {np.shape(tokens)}")
    return np.frombuffer(_GENOTYPES.encode("ascii"), np.uint8)[codes].tobytes().decode("ascii")


class _MaskedTable(Dataset):
    """Shared parts of the masked datasets: row access, gene labels, seeded draws."""

    def __init__(
        self,
        table: pd.DataFrame,
        gene_index: Mapping[str, int],
        settings: MaskSettings,
        seed: int,
        seq_len: int | None = None,
        agnostic: bool = False,
        maf: Mapping[str, np.ndarray] | None = None,
    ) -> None:
        missing = {"sample", "gene_id", "seq"} - set(table.columns)
        if missing:
            raise ValueError(f"table lacks columns {sorted(missing)}")
        if seq_len is not None and seq_len < 1:
            raise ValueError(f"seq_len must be ≥ 1, got {seq_len}")
        genes = set(table["gene_id"])
        unknown = sorted(genes - set(gene_index)) if not agnostic else []
        if unknown:
            raise ValueError(f"genes {unknown[:5]} are not in gene_index")
        if settings.maf_stratified and not genes <= set(maf or {}):
            raise ValueError(f"maf_stratified masking needs maf for genes {sorted(genes)[:5]}…")
        self.table = table.reset_index(drop=True)
        self.settings, self.seed, self.seq_len = settings, seed, seq_len
        self._seqs = self.table["seq"].to_numpy()
        self._gene_ids = self.table["gene_id"].to_numpy()
        self._gene_index, self._agnostic, self._maf = gene_index, agnostic, maf or {}
        self.epoch = 0

    def set_epoch(self, epoch: int) -> None:
        """Draw the next items' haplotypes and masks for ``epoch``.

        Parameters
        ----------
        epoch : int
            0-based epoch number.
        """
        self.epoch = epoch

    def __len__(self) -> int:
        return len(self._seqs)

    def _generator(self, index: int) -> np.random.Generator:
        return np.random.default_rng([self.seed, self.epoch, index])

    def _tokens(self, index: int) -> np.ndarray:
        """``(2, L)`` tokens of row ``index``, cropped to ``seq_len``."""
        try:
            tokens = haplotype_tokens(self._seqs[index])
        except ValueError as err:
            sample = self.table["sample"].iat[index]
            raise ValueError(f"row {index} ({sample}, {self._gene_ids[index]}): {err}") from None
        return tokens[:, : self.seq_len]

    def _gene(self, index: int) -> torch.Tensor:
        label = 0 if self._agnostic else self._gene_index[self._gene_ids[index]]
        return torch.tensor(label, dtype=torch.int64)

    def _mask(self, index: int, length: int, generator: np.random.Generator) -> np.ndarray:
        maf = self._maf.get(self._gene_ids[index])
        if maf is not None:
            maf = np.asarray(maf)[: self.seq_len]
        return training_mask(length, generator, self.settings, maf)


class HaplotypeDataset(_MaskedTable):
    """One randomly chosen haplotype per item, masked for training.

    Parameters
    ----------
    table : pd.DataFrame
        Rows with ``sample``, ``gene_id``, ``seq``.
    gene_index : mapping of str to int
        Gene id → segment label.
    settings : MaskSettings
        The training mask.
    seed : int
        Seed of haplotype choices and masks (with the epoch and the row).
    seq_len : int, optional
        Keep only the first ``seq_len`` SNPs (published 5000). Default: all.
    agnostic : bool, optional
        Segment label 0 for every gene. Default False.
    maf : mapping of str to numpy.ndarray, optional
        Gene id → ``(L,)`` MAF of its SNPs, for MAF-stratified masking.

    Notes
    -----
    An item is ``dict(x=float32 (3, L), labels=int64 (L,), gene=int64 (), row=int,
    haplotype=int)`` (haplotype 0 father, 1 mother).
    """

    def __getitem__(self, index: int) -> dict[str, Any]:
        generator = self._generator(index)
        tokens = self._tokens(index)
        haplotype = int(generator.integers(2))
        mask = self._mask(index, tokens.shape[1], generator)
        x, labels = apply_mask(tokens[haplotype], mask, generator, self.settings.split_mask)
        return {
            "x": torch.from_numpy(x),
            "labels": torch.from_numpy(labels),
            "gene": self._gene(index),
            "row": index,
            "haplotype": haplotype,
        }


class GenotypeDataset(_MaskedTable):
    """Both haplotypes of one individual per item, with the same targets in both.

    Same parameters as :class:`HaplotypeDataset`. The targets are drawn once and used
    for both haplotypes, so a genotype is predicted at every target SNP; the split-mask
    draws (zeroed / random / unchanged) are independent per haplotype.

    Notes
    -----
    An item is ``dict(x=float32 (2, 3, L), labels=int64 (2, L), gene=int64 (), row=int)``
    (father first); batch items with :func:`collate_genotypes`.
    """

    def __getitem__(self, index: int) -> dict[str, Any]:
        generator = self._generator(index)
        tokens = self._tokens(index)
        mask = self._mask(index, tokens.shape[1], generator)
        pairs = [apply_mask(t, mask, generator, self.settings.split_mask) for t in tokens]
        return {
            "x": torch.from_numpy(np.stack([p[0] for p in pairs])),
            "labels": torch.from_numpy(np.stack([p[1] for p in pairs])),
            "gene": self._gene(index),
            "row": index,
        }


def _check_lengths(items: Sequence[Mapping[str, Any]]) -> None:
    if not items:
        raise ValueError("cannot collate an empty batch")
    lengths = sorted({int(item["x"].shape[-1]) for item in items})
    if len(lengths) > 1:
        raise ValueError(
            f"items have different SNP counts {lengths}: batches must hold one length "
            "(draw them with LengthBatchSampler)"
        )


def collate_haplotypes(items: Sequence[Mapping[str, Any]]) -> dict[str, torch.Tensor]:
    """Stack :class:`HaplotypeDataset` items of one length.

    Parameters
    ----------
    items : sequence of dict
        Items of equal length ``L``.

    Returns
    -------
    dict
        ``x`` (B, 3, L), ``labels`` (B, L), ``gene`` (B,), ``row`` (B,),
        ``haplotype`` (B,).
    """
    _check_lengths(items)
    return {
        "x": torch.stack([i["x"] for i in items]),
        "labels": torch.stack([i["labels"] for i in items]),
        "gene": torch.stack([i["gene"] for i in items]),
        "row": torch.tensor([i["row"] for i in items], dtype=torch.int64),
        "haplotype": torch.tensor([i["haplotype"] for i in items], dtype=torch.int64),
    }


def collate_genotypes(items: Sequence[Mapping[str, Any]]) -> dict[str, torch.Tensor]:
    """Batch :class:`GenotypeDataset` items with each individual's haplotypes adjacent.

    Parameters
    ----------
    items : sequence of dict
        ``B`` items of equal length ``L``.

    Returns
    -------
    dict
        ``x`` (2B, 3, L) and ``labels`` (2B, L) with rows ``2i`` father and ``2i + 1``
        mother of item ``i``; ``gene`` (2B,); ``pair`` (2B,) = ``i``; ``row`` (B,)
        table rows.
    """
    _check_lengths(items)
    n = len(items)
    return {
        "x": torch.cat([i["x"] for i in items]),
        "labels": torch.cat([i["labels"] for i in items]),
        "gene": torch.stack([i["gene"] for i in items]).repeat_interleave(2),
        "pair": torch.arange(n).repeat_interleave(2),
        "row": torch.tensor([i["row"] for i in items], dtype=torch.int64),
    }


class LengthBatchSampler(Sampler[list[int]]):
    """Batches of table rows of one SNP count each, every row once per epoch.

    Genes with as many SNPs share batches (with ``max_snps`` SNPs each, as the published
    5,000-SNP chunks, all do): batches that mix genes keep BatchNorm's batch statistics
    close to its running ones, which one-gene batches would not (each gene's embedding
    shifts the activations).

    Parameters
    ----------
    table : pd.DataFrame
        Rows with ``seq`` (addressed by position).
    batch_size : int
        Rows per batch (the last batch of a length may be smaller).
    shuffle : bool, optional
        Shuffle rows within lengths and the order of batches. Default True.
    seed : int, optional
        Seed of the shuffles (with the epoch, see :meth:`set_epoch`). Default 0.
    """

    def __init__(
        self, table: pd.DataFrame, batch_size: int, shuffle: bool = True, seed: int = 0
    ) -> None:
        if batch_size < 1:
            raise ValueError(f"batch_size must be ≥ 1, got {batch_size}")
        lengths = table["seq"].str.len().to_numpy()
        self._groups = [np.flatnonzero(lengths == n) for n in pd.unique(lengths)]
        self.batch_size, self.shuffle, self.seed, self.epoch = batch_size, shuffle, seed, 0

    def set_epoch(self, epoch: int) -> None:
        """Shuffle for ``epoch`` (0-based) on the next iteration.

        Parameters
        ----------
        epoch : int
            0-based epoch number.
        """
        self.epoch = epoch

    def __len__(self) -> int:
        return sum(-(-len(rows) // self.batch_size) for rows in self._groups)

    def __iter__(self) -> Iterator[list[int]]:
        generator = np.random.default_rng([self.seed, self.epoch])
        batches = []
        for rows in self._groups:
            order = generator.permutation(rows) if self.shuffle else rows
            for start in range(0, len(order), self.batch_size):
                batches.append([int(r) for r in order[start : start + self.batch_size]])
        if self.shuffle:
            batches = [batches[i] for i in generator.permutation(len(batches))]
        yield from batches
