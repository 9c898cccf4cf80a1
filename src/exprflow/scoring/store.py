"""On-disk layout of scoring outputs: one small file per gene, shard manifests, the merge.

Layout of an output folder (every file written atomically)::

    out_dir/
      genes/<gene_id>.npz            one per finished gene (its existence = done)
      manifests/genes-<digest>.json  one per scoring call: the gene ids and samples it owns

A gene file (``numpy.savez_compressed``: row labels repeat and shrink ~4×; no pickles) holds

=============== ================== ====================================================
key             dtype, shape       meaning
=============== ================== ====================================================
``gene_id``     str, ()            gene id
``chrom``       str, ()            contig
``tss``         int64, ()          0-based TSS position
``strand``      str, ()            ``+`` or ``-``
``padded``      bool, ()           windows ran past a contig end and were ``N``-padded
``rows``        str, (R,)          ``ref``, then ``<sample>|1``, ``<sample>|2`` per sample
``tissues``     str, (T,)          one name per prediction column
``predictions`` float32, (R, T)    reference and per-haplotype predictions
``features``    float16, (R, D)    reduced features (only with ``save_features``)
=============== ================== ====================================================

:mod:`~exprflow.scoring.merge` turns output folders into one long table.
"""

from __future__ import annotations

import hashlib
import json
import os
import re
from collections.abc import Sequence
from pathlib import Path
from typing import Any, NamedTuple

import numpy as np

from exprflow.atomic import atomic_path
from exprflow.errors import InputError

__all__ = [
    "GENES_DIR",
    "MANIFESTS_DIR",
    "REF",
    "GenePredictions",
    "gene_path",
    "read_gene",
    "read_rows",
    "row_labels",
    "write_gene",
    "write_manifest",
]

GENES_DIR = "genes"
MANIFESTS_DIR = "manifests"
#: Row label and ``sample`` value of the reference prediction.
REF = "ref"

_SAFE_ID = re.compile(r"^[A-Za-z0-9_+:=-][A-Za-z0-9_.+:=-]*$")


class GenePredictions(NamedTuple):
    """Predictions of one gene for the reference and every haplotype.

    Attributes
    ----------
    gene_id, chrom : str
        Gene and contig.
    tss : int
        0-based TSS position.
    strand : str
        ``+`` or ``-``.
    padded : bool
        Whether the windows were ``N``-padded past a contig end.
    rows : list of str
        ``R`` row labels (:func:`row_labels`).
    tissues : list of str
        ``T`` column names.
    predictions : numpy.ndarray
        float32, shape ``(R, T)``.
    features : numpy.ndarray or None
        float16, shape ``(R, D)``, or None when not saved.
    """

    gene_id: str
    chrom: str
    tss: int
    strand: str
    padded: bool
    rows: list[str]
    tissues: list[str]
    predictions: np.ndarray
    features: np.ndarray | None


def row_labels(samples: Sequence[str]) -> list[str]:
    """Return ``["ref", "<s>|1", "<s>|2", …]`` for samples ``s``.

    Parameters
    ----------
    samples : sequence of str
        Sample ids.

    Returns
    -------
    list of str
        ``1 + 2 × len(samples)`` labels.
    """
    return [REF, *(f"{sample}|{hap}" for sample in samples for hap in (1, 2))]


def gene_path(out_dir: str | os.PathLike[str], gene_id: str) -> Path:
    """Return ``out_dir/genes/<gene_id>.npz``, refusing ids unsafe as file names.

    Parameters
    ----------
    out_dir : str or PathLike
        Output folder.
    gene_id : str
        Gene id: letters, digits and ``_ . + : = -``, not starting with ``.``.

    Returns
    -------
    Path
    """
    if not _SAFE_ID.match(gene_id):
        raise InputError(
            "<gene table>",
            f"gene id {gene_id!r} cannot name a file (allowed: letters, digits, _ . + : = -; "
            "no leading '.').",
            record=gene_id,
            fix="rename the gene in the gene table.",
        )
    return Path(out_dir) / GENES_DIR / f"{gene_id}.npz"


def write_gene(out_dir: str | os.PathLike[str], gene: GenePredictions) -> Path:
    """Write one gene's predictions to ``out_dir/genes/<gene_id>.npz``, atomically.

    Parameters
    ----------
    out_dir : str or PathLike
        Output folder.
    gene : GenePredictions
        What to write.

    Returns
    -------
    Path
        The file written.
    """
    dest = gene_path(out_dir, gene.gene_id)
    arrays: dict[str, Any] = {
        "gene_id": np.array(gene.gene_id),
        "chrom": np.array(gene.chrom),
        "tss": np.array(gene.tss, dtype=np.int64),
        "strand": np.array(gene.strand),
        "padded": np.array(gene.padded),
        "rows": np.array(gene.rows, dtype=str),
        "tissues": np.array(gene.tissues, dtype=str),
        "predictions": np.asarray(gene.predictions, dtype=np.float32),
    }
    if gene.features is not None:
        arrays["features"] = np.asarray(gene.features, dtype=np.float16)
    with atomic_path(dest) as tmp:
        np.savez_compressed(tmp, **arrays)
    return dest


def read_gene(path: str | os.PathLike[str]) -> GenePredictions:
    """Read a gene file written by :func:`write_gene`.

    Parameters
    ----------
    path : str or PathLike
        ``genes/<gene_id>.npz``.

    Returns
    -------
    GenePredictions
    """
    try:
        with np.load(path, allow_pickle=False) as data:
            return GenePredictions(
                gene_id=str(data["gene_id"]),
                chrom=str(data["chrom"]),
                tss=int(data["tss"]),
                strand=str(data["strand"]),
                padded=bool(data["padded"]),
                rows=[str(row) for row in data["rows"]],
                tissues=[str(name) for name in data["tissues"]],
                predictions=data["predictions"],
                features=data["features"] if "features" in data.files else None,
            )
    except (OSError, ValueError, KeyError) as exc:
        raise InputError(
            path,
            f"is not a scoring gene file ({exc}).",
            fix="delete it and rerun the scoring, which recomputes missing genes.",
        ) from exc


def read_rows(path: str | os.PathLike[str]) -> list[str]:
    """Return only the row labels of a gene file (cheap: one array is read).

    Parameters
    ----------
    path : str or PathLike
        ``genes/<gene_id>.npz``.

    Returns
    -------
    list of str
        Row labels (:func:`row_labels`).
    """
    try:
        with np.load(path, allow_pickle=False) as data:
            return [str(row) for row in data["rows"]]
    except (OSError, ValueError, KeyError) as exc:
        raise InputError(
            path,
            f"is not a scoring gene file ({exc}).",
            fix="delete it and rerun the scoring, which recomputes missing genes.",
        ) from exc


def write_manifest(
    out_dir: str | os.PathLike[str], gene_ids: Sequence[str], samples: Sequence[str]
) -> Path:
    """Record the genes and samples a scoring call owns, for :func:`merge_shards` to check.

    Parameters
    ----------
    out_dir : str or PathLike
        Output folder.
    gene_ids : sequence of str
        Genes of this call (shard), in order.
    samples : sequence of str
        Samples scored.

    Returns
    -------
    Path
        ``out_dir/manifests/genes-<digest>.json`` (same genes and samples, same file).
    """
    doc = {"gene_ids": list(gene_ids), "samples": list(samples)}
    text = json.dumps(doc, indent=1) + "\n"
    digest = hashlib.blake2b(text.encode(), digest_size=8).hexdigest()
    dest = Path(out_dir) / MANIFESTS_DIR / f"genes-{digest}.json"
    if not dest.exists():
        with atomic_path(dest) as tmp:
            tmp.write_text(text)
    return dest
