"""Merge scoring output folders (one shared by all chunks, or one per chunk) into one table.

The long table has columns ``gene_id``, ``sample`` (``ref`` for the reference rows),
``haplotype`` (int8: 0 for ``ref``, else 1 or 2), then one float32 column per tissue;
genes sorted by id, rows in gene-file order (``ref``, then each sample's haplotypes 1
and 2). :func:`merge_shards` writes it atomically as TSV (``.tsv``, ``.tsv.gz``) or
Parquet (``.parquet``).

Completeness is checked before anything is written: a folder whose manifests list genes
that have no file yet in any of the merged folders (an unfinished or killed chunk) is
refused, and so is a gene found in two folders; ``expected=`` also catches chunks that
never started. Reads the gene files and manifests of :mod:`~exprflow.scoring.store`.
"""

from __future__ import annotations

import json
import os
from collections.abc import Sequence
from pathlib import Path

import numpy as np
import pandas as pd

from exprflow.atomic import atomic_path
from exprflow.errors import InputError
from exprflow.scoring.store import GENES_DIR, MANIFESTS_DIR, REF, GenePredictions, read_gene

__all__ = ["merge_shards", "predictions_table"]

_Dirs = str | os.PathLike[str] | Sequence[str | os.PathLike[str]]


def _expected_genes(out_dir: Path) -> set[str]:
    """Return the union of the gene ids listed by a folder's manifests."""
    expected: set[str] = set()
    for manifest in sorted((out_dir / MANIFESTS_DIR).glob("genes-*.json")):
        try:
            expected.update(json.loads(manifest.read_text())["gene_ids"])
        except (ValueError, KeyError) as exc:
            raise InputError(manifest, f"is not a scoring manifest ({exc}).") from exc
    return expected


def _check_expected(dirs: Sequence[Path], files: dict[str, Path], expected: Sequence[str]) -> None:
    """Refuse when a gene of ``expected`` has no file in any folder."""
    missing = [gene_id for gene_id in expected if gene_id not in files]
    if missing:
        raise InputError(
            ", ".join(map(str, dirs)),
            f"{len(missing)} of {len(expected)} expected gene(s) have no output in any "
            f"folder, e.g. {', '.join(missing[:5])}.",
            record=missing[0],
            fix="run (or rerun) the chunks that own them; finished genes are skipped.",
        )


def _gene_files(out_dirs: Sequence[Path]) -> dict[str, Path]:
    """Return gene id → file over all folders, refusing unfinished or overlapping shards.

    A gene a folder's manifests list may have its file in another of the merged folders
    (chunks scored into folders of their own, each listing the whole gene list).
    """
    files: dict[str, Path] = {}
    for out_dir in out_dirs:
        if not out_dir.is_dir():
            raise InputError(out_dir, "scoring output folder not found.", fix="check the path.")
        for path in sorted((out_dir / GENES_DIR).glob("*.npz")):
            if path.stem in files:
                raise InputError(
                    path,
                    f"gene {path.stem} is also in {files[path.stem]}.",
                    record=path.stem,
                    fix="merge disjoint shards only.",
                )
            files[path.stem] = path
    for out_dir in out_dirs:
        missing = sorted(_expected_genes(out_dir) - set(files))
        if missing:
            raise InputError(
                out_dir,
                f"is unfinished: {len(missing)} gene(s) listed in its manifests have no "
                f"output yet in any merged folder, e.g. {', '.join(missing[:5])}.",
                fix="rerun the scoring of the missing chunk(s) with the same arguments "
                "(finished genes are skipped), or merge every chunk's folder.",
            )
    return files


def _long_rows(gene: GenePredictions) -> pd.DataFrame:
    """Return one gene's predictions as long-table rows."""
    samples, haplotypes = [], []
    for label in gene.rows:
        sample, _, hap = label.rpartition("|") if label != REF else (REF, "", "0")
        samples.append(sample)
        haplotypes.append(int(hap))
    frame = pd.DataFrame(
        {"gene_id": gene.gene_id, "sample": samples, "haplotype": np.array(haplotypes, np.int8)}
    )
    values = pd.DataFrame(gene.predictions, columns=gene.tissues)
    return pd.concat([frame, values], axis=1)


def predictions_table(out_dirs: _Dirs, expected: Sequence[str] | None = None) -> pd.DataFrame:
    """Read one or several output folders into the long table (see module docstring).

    Parameters
    ----------
    out_dirs : str, PathLike or sequence of them
        Output folder(s) of :func:`~exprflow.scoring.engine.score_genes`.
    expected : sequence of str, optional
        Gene ids that must all be present (e.g. the whole gene table's). Default None:
        only the genes the folders' manifests list.

    Returns
    -------
    pandas.DataFrame
        Columns ``gene_id, sample, haplotype, <tissue>…``.

    Raises
    ------
    InputError
        On an unfinished shard, a missing expected gene, a gene in two folders, or
        differing tissue columns.
    """
    dirs = (
        [Path(out_dirs)] if isinstance(out_dirs, str | os.PathLike) else list(map(Path, out_dirs))
    )
    files = _gene_files(dirs)
    if expected is not None:
        _check_expected(dirs, files, expected)
    frames, tissues = [], None
    for gene_id in sorted(files):
        gene = read_gene(files[gene_id])
        if tissues is None:
            tissues = gene.tissues
        elif gene.tissues != tissues:
            raise InputError(
                files[gene_id],
                f"has tissues {gene.tissues}, other genes {tissues}.",
                record=gene_id,
                fix="merge outputs of one model only.",
            )
        frames.append(_long_rows(gene))
    if not frames:
        return pd.DataFrame(columns=["gene_id", "sample", "haplotype"])
    return pd.concat(frames, ignore_index=True)


def merge_shards(
    out_dirs: _Dirs, dest: str | os.PathLike[str], expected: Sequence[str] | None = None
) -> pd.DataFrame:
    """Merge scoring output folders into one long table written atomically to ``dest``.

    Parameters
    ----------
    out_dirs : str, PathLike or sequence of them
        One folder shared by every chunk, or one folder per chunk.
    dest : str or PathLike
        ``.tsv``, ``.tsv.gz`` or ``.parquet`` file.
    expected : sequence of str, optional
        Gene ids that must all be present. Default None: those the manifests list.

    Returns
    -------
    pandas.DataFrame
        The table written (see module docstring for the layout).
    """
    dest = Path(dest)
    name = dest.name.lower()
    if not name.endswith((".tsv", ".tsv.gz", ".parquet")):
        raise InputError(
            dest, "unknown output format.", fix="end the name with .tsv, .tsv.gz or .parquet."
        )
    table = predictions_table(out_dirs, expected)
    with atomic_path(dest) as tmp:
        if name.endswith(".parquet"):
            table.to_parquet(tmp, index=False)
        else:
            compression = "gzip" if name.endswith(".gz") else None
            table.to_csv(tmp, sep="\t", index=False, compression=compression)
    return table
