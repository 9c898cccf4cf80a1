"""Chromosome fold groups of the chromatin cross-validation, and deterministic fold splits.

Chromoformer assigns every chromosome of hg19 to one of four groups
(:data:`PUBLISHED_GROUPS`, ``prepare_train_metadata.py``); fold *k* trains on the other
three groups. ChromExpress halves the held-out group's chromosomes into validation and
test, in an order that came from ``list(set(...))`` and so changed with the hash seed.
Here the halving is fixed: the held-out chromosomes in natural order (``chr1, chr2, …,
chr10, …, chrX, chrY``) alternate validation, test, validation, …; a group of one
chromosome is split by position instead (upstream half of its genes validation, the rest
test). Nothing depends on set or hash order, so every run gives the same split.

A genome whose chromosomes are not all in the published table (or leave a published group
empty, as the six chromosomes of the synthetic world would) gets the ``cyclic`` scheme:
chromosomes in natural order take groups 1, 2, 3, 4, 1, ….
"""

from __future__ import annotations

import logging
import os
from collections.abc import Iterable
from typing import NamedTuple

import numpy as np
import pandas as pd

from exprflow.data.chromatin_meta import N_FOLDS
from exprflow.errors import InputError
from exprflow.genome.contigs import chrom_key

__all__ = [
    "FOLD_SCHEMES",
    "PUBLISHED_GROUPS",
    "FoldSplit",
    "fold_groups",
    "fold_split",
    "natural_key",
    "published_group",
    "resolve_fold_scheme",
]

log = logging.getLogger(__name__)

#: Values of ``scheme`` in :func:`fold_groups`.
FOLD_SCHEMES = ("auto", "published", "cyclic")
_GROUPS = tuple(range(1, N_FOLDS + 1))
#: Chromoformer's chromosome groups (``split`` 1..4), UCSC names.
PUBLISHED_GROUPS: dict[str, int] = {
    f"chr{name}": group
    for group, names in {
        1: ("1", "6", "5", "8", "14", "Y"),
        2: ("7", "10", "11", "12", "15", "21"),
        3: ("2", "3", "4", "16", "18", "20"),
        4: ("9", "13", "17", "19", "22", "X"),
    }.items()
    for name in names
}


class FoldSplit(NamedTuple):
    """Gene ids of one fold's three sets (``train``, ``val``, ``test``).

    Attributes
    ----------
    train, val, test : numpy.ndarray
        Gene ids (str), each in the order of the metadata rows.
    """

    train: np.ndarray
    val: np.ndarray
    test: np.ndarray


def natural_key(chrom: str) -> tuple[int, int, str]:
    """Sort key putting chromosomes in natural order: ``1 < 2 < … < 10 < … < X < Y``.

    Parameters
    ----------
    chrom : str
        Name with or without ``chr``.

    Returns
    -------
    tuple of (int, int, str)
        Numbered chromosomes first by number, then the others by name.
    """
    name = chrom_key(chrom)
    return (0, int(name), "") if name.isdigit() else (1, 0, name)


def published_group(chrom: str) -> int | None:
    """Return the published fold group of ``chrom`` (``chr1`` or ``1``), or None.

    Parameters
    ----------
    chrom : str
        Chromosome name, either spelling.

    Returns
    -------
    int or None
        1..4, None for a chromosome in no group.
    """
    return PUBLISHED_GROUPS.get(f"chr{chrom_key(chrom)}")


def resolve_fold_scheme(
    chroms: Iterable[str], scheme: str = "auto", *, source: str | os.PathLike[str] = "genes"
) -> str:
    """Return the scheme :func:`fold_groups` uses: ``auto`` resolved to published or cyclic.

    Parameters
    ----------
    chroms : iterable of str
        Chromosome names (repeats allowed).
    scheme : {"auto", "published", "cyclic"}, optional
        Requested scheme. Default "auto": ``published`` when every chromosome is in
        :data:`PUBLISHED_GROUPS` and every group 1..4 gets one, else ``cyclic``.
    source : str or PathLike, optional
        What the chromosomes came from, named in errors. Default "genes".

    Returns
    -------
    str
        ``"published"`` or ``"cyclic"``.

    Raises
    ------
    InputError
        On an unknown scheme.
    """
    if scheme not in FOLD_SCHEMES:
        raise InputError(
            source,
            f"fold scheme {scheme!r} is not one of {', '.join(FOLD_SCHEMES)}.",
            fix="pass folds=auto, published or cyclic.",
        )
    if scheme != "auto":
        return scheme
    groups = [published_group(name) for name in set(map(str, chroms))]
    return "published" if None not in groups and set(groups) == set(_GROUPS) else "cyclic"


def fold_groups(
    chroms: Iterable[str], scheme: str = "auto", *, source: str | os.PathLike[str] = "genes"
) -> dict[str, int]:
    """Assign each chromosome a fold group 1..4.

    Parameters
    ----------
    chroms : iterable of str
        Chromosome names (repeats allowed).
    scheme : {"auto", "published", "cyclic"}, optional
        ``published``: :data:`PUBLISHED_GROUPS`; ``cyclic``: natural order, groups 1, 2,
        3, 4, 1, …; ``auto``: published when every chromosome is in the table and every
        group gets one, else cyclic (:func:`resolve_fold_scheme`). Default "auto".
    source : str or PathLike, optional
        What the chromosomes came from, named in errors. Default "genes".

    Returns
    -------
    dict of str to int
        ``{chrom: group}`` for each distinct name as given, in natural order.

    Raises
    ------
    InputError
        On an unknown scheme, or under ``published`` on a chromosome in no group.
    """
    names = sorted(set(map(str, chroms)), key=natural_key)
    resolved = resolve_fold_scheme(names, scheme, source=source)
    log.info("fold groups: %s scheme for %d chromosomes", resolved, len(names))
    if resolved == "cyclic":
        return {name: i % N_FOLDS + 1 for i, name in enumerate(names)}
    published = {name: published_group(name) for name in names}
    lost = [name for name, group in published.items() if group is None]
    if lost:
        raise InputError(
            source,
            f"chromosome {lost[0]!r} is in no published fold group"
            + (f" (nor are {lost[1:]})." if lost[1:] else "."),
            record=lost[0],
            fix="drop genes on that chromosome, or use folds=cyclic (or auto).",
        )
    return {name: int(group) for name, group in published.items() if group is not None}


def fold_split(meta: pd.DataFrame, fold: int) -> FoldSplit:
    """Split one epigenome's genes into train, validation and test for ``fold``.

    Parameters
    ----------
    meta : pandas.DataFrame
        One epigenome's rows of ``train.csv`` (``gene_id``, ``eid``, ``chrom``,
        ``start``, ``split``); ``attrs["path"]``, if set, is named in errors.
    fold : int
        The held-out group, 1..4.

    Returns
    -------
    FoldSplit
        Train: genes of the other groups. The held-out chromosomes in natural order
        alternate validation, test, …; a single held-out chromosome is split by TSS
        (the upstream ``n // 2`` genes validation, the rest test).

    Raises
    ------
    InputError
        When the rows hold several epigenomes, ``fold`` is not 1..4, or the held-out or
        training set is empty.
    """
    source = meta.attrs.get("path", "train.csv")
    eids = sorted(set(meta["eid"]))
    if len(eids) != 1:
        raise InputError(
            source,
            f"fold_split takes one epigenome's rows, got {len(eids)}: {eids[:5]}.",
            fix="select one eid's rows first (meta[meta.eid == eid]).",
        )
    if fold not in _GROUPS:
        raise InputError(source, f"fold {fold} is not one of {_GROUPS}.", fix="pick 1..4.")
    held = meta["split"].to_numpy() == fold
    if held.all() or not held.any():
        raise InputError(
            source,
            f"fold {fold} holds {int(held.sum())} of {len(meta)} genes of {eids[0]}; "
            "training and held-out sets must both be non-empty.",
            fix="use more chromosomes, or folds=cyclic so every group gets one.",
        )
    chroms = sorted(set(meta.loc[held, "chrom"]), key=natural_key)
    val = _held_out_validation(meta, held, chroms)
    ids = meta["gene_id"].to_numpy().astype(str)
    return FoldSplit(train=ids[~held], val=ids[val], test=ids[held & ~val])


def _held_out_validation(meta: pd.DataFrame, held: np.ndarray, chroms: list[str]) -> np.ndarray:
    """Mask of the validation rows among the held-out ones."""
    chrom = meta["chrom"].to_numpy().astype(str)
    if len(chroms) > 1:
        return held & np.isin(chrom, chroms[::2])
    rows = np.flatnonzero(held)
    order = np.lexsort(
        (meta["gene_id"].to_numpy()[rows].astype(str), meta["start"].to_numpy()[rows])
    )
    val = np.zeros(len(meta), dtype=bool)
    val[rows[order[: len(rows) // 2]]] = True
    return val
