"""How SNP rankings meet the truth: planted causal variants and active-chromatin tracks.

Inputs are per-gene SNP rankings as :func:`exprflow.evaluation.mlm_attribution.rank_snps`
returns them (columns ``chrom, pos, rank``; ``pos`` 1-based as in the VCF and
``meta.csv.gz``), keyed by gene id.

- :func:`read_causal_variants`: the planted causal variants of a synthetic world
  (``truth.json`` key ``causal_variants``).
- :func:`planted_recovery`: precision and recall of the planted variants in the top ``k``
  of each gene's list, pooled over genes, against a random ranking's expectation.
- :func:`chromatin_enrichment`: mean bigWig signal at the top-``k`` SNPs against the other
  SNPs of the same genes, with a one-sided Mann–Whitney test, per track.

Genes match with their version suffix dropped (``ENSG….3`` = ``ENSG…``); contigs match
with or without ``chr`` (meta files say ``17``, world files ``chr17``).
"""

from __future__ import annotations

import json
import logging
import os
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd
from scipy.stats import mannwhitneyu

from exprflow.errors import InputError
from exprflow.genome.bigwig import BigWig
from exprflow.genome.contigs import chrom_key

__all__ = [
    "CAUSAL_COLUMNS",
    "PlantedRecovery",
    "chromatin_enrichment",
    "planted_recovery",
    "read_causal_variants",
]

logger = logging.getLogger(__name__)

#: Columns every causal-variant table needs (``pos`` 1-based).
CAUSAL_COLUMNS = ("gene_id", "chrom", "pos")
_RANKING_COLUMNS = ("chrom", "pos", "rank")
_RANKED, _NOT_AMONG_SNPS, _GENE_NOT_RANKED = "ranked", "not among SNPs", "gene not ranked"


def read_causal_variants(path: str | os.PathLike[str]) -> pd.DataFrame:
    """Read the planted causal variants of a synthetic world's ``truth.json``.

    Parameters
    ----------
    path : str or PathLike
        ``truth.json`` with a list ``causal_variants`` of records holding at least
        ``gene_id``, ``chrom`` and ``pos`` (1-based VCF POS), usually also ``id``,
        ``ref``, ``alt`` and ``effect``.

    Returns
    -------
    pandas.DataFrame
        One row per variant, every field of the records; ``pos`` int64.

    Raises
    ------
    InputError
        When the file is missing, is not JSON, has no ``causal_variants`` list, or a
        record lacks one of :data:`CAUSAL_COLUMNS`.
    """
    path = Path(path)
    if not path.is_file():
        raise InputError(path, "truth file not found.", fix="give the world's truth.json.")
    try:
        truth = json.loads(path.read_text())
    except json.JSONDecodeError as exc:
        raise InputError(path, f"is not valid JSON ({exc}).") from exc
    records = truth.get("causal_variants") if isinstance(truth, dict) else None
    if not isinstance(records, list):
        raise InputError(
            path,
            "has no list 'causal_variants'.",
            fix="give a synthetic world's truth.json (exprflow.simulate).",
        )
    for i, record in enumerate(records):
        missing = [c for c in CAUSAL_COLUMNS if not isinstance(record, dict) or c not in record]
        if missing:
            raise InputError(
                path,
                f"causal variant {i} lacks {missing}; each needs {list(CAUSAL_COLUMNS)}.",
                record=f"causal_variants[{i}]",
            )
    table = pd.DataFrame.from_records(records, columns=None if records else CAUSAL_COLUMNS)
    return table.astype({"gene_id": str, "chrom": str, "pos": np.int64})


def _gene_key(gene_id: object) -> str:
    """A gene id without its version suffix: ``ENSG0001.7`` → ``ENSG0001``."""
    return str(gene_id).split(".", 1)[0]


def _check_ranking(gene: str, ranking: pd.DataFrame) -> None:
    missing = [c for c in _RANKING_COLUMNS if c not in ranking.columns]
    if missing:
        raise ValueError(
            f"ranking of gene {gene!r} lacks columns {missing}; expected rank_snps output "
            f"with {list(_RANKING_COLUMNS)}"
        )


@dataclass(frozen=True)
class PlantedRecovery:
    """Precision and recall of planted causal variants at the top of SNP rankings.

    Attributes
    ----------
    summary : pandas.DataFrame
        One row per ``k``: ``k, precision, recall, random_precision, random_recall,
        hits, n_genes, n_causal``. ``precision`` = causal SNPs among the top ``k`` /
        ``sum_g min(k, n_g)`` and ``recall`` = causal variants ranked ≤ ``k`` / causal
        variants in the SNP sets, both pooled over the genes that have a planted
        variant among their SNPs; the ``random_*`` columns are a random ranking's
        expectation.
    causal_ranks : pandas.DataFrame
        One row per planted variant: ``gene_id, chrom, pos`` (and ``id`` when known),
        ``rank`` (NaN when not ranked), ``n_snps`` of its gene, and ``status``:
        ``"ranked"``, ``"not among SNPs"`` or ``"gene not ranked"``.
    """

    summary: pd.DataFrame
    causal_ranks: pd.DataFrame

    @property
    def unmatched(self) -> pd.DataFrame:
        """The planted variants that were not counted (missing from the SNP sets)."""
        return self.causal_ranks[self.causal_ranks["status"] != _RANKED]


def _causal_ranks(rankings: Mapping[str, pd.DataFrame], causal: pd.DataFrame) -> pd.DataFrame:
    """Look every planted variant up in its gene's ranking."""
    by_gene = {_gene_key(gene): ranking for gene, ranking in rankings.items()}
    rows = []
    for record in causal.itertuples(index=False):
        ranking = by_gene.get(_gene_key(record.gene_id))
        rank, n_snps, status = np.nan, 0, _GENE_NOT_RANKED
        if ranking is not None:
            n_snps, status = len(ranking), _NOT_AMONG_SNPS
            hit = ranking[
                (ranking["pos"].to_numpy() == int(record.pos))
                & (ranking["chrom"].map(chrom_key) == chrom_key(record.chrom)).to_numpy()
            ]
            if len(hit):
                rank, status = float(hit["rank"].min()), _RANKED
        rows.append((rank, n_snps, status))
    keep = [c for c in (*CAUSAL_COLUMNS, "id") if c in causal.columns]
    ranks = pd.DataFrame(rows, columns=["rank", "n_snps", "status"], index=causal.index)
    return pd.concat([causal[keep], ranks], axis=1).reset_index(drop=True)


def planted_recovery(
    rankings: Mapping[str, pd.DataFrame],
    causal: pd.DataFrame,
    ks: Sequence[int] = (1, 5, 10, 20),
) -> PlantedRecovery:
    """Precision@k and recall@k of planted causal variants in per-gene SNP rankings.

    Parameters
    ----------
    rankings : mapping of str to pandas.DataFrame
        Gene id → :func:`~exprflow.evaluation.mlm_attribution.rank_snps` table (columns
        ``chrom, pos, rank``).
    causal : pandas.DataFrame
        Planted variants with columns ``gene_id, chrom, pos`` (1-based), e.g.
        :func:`read_causal_variants`.
    ks : sequence of int, optional
        Cut-offs, each ≥ 1. Default (1, 5, 10, 20).

    Returns
    -------
    PlantedRecovery
        The per-``k`` summary and every planted variant's rank. Variants whose gene
        is not ranked, or is ranked without them among its SNPs, are listed (and
        logged) but not counted.
    """
    missing = [c for c in CAUSAL_COLUMNS if c not in causal.columns]
    if missing:
        raise ValueError(f"causal lacks columns {missing}; expected {list(CAUSAL_COLUMNS)}")
    if not ks or min(ks) < 1:
        raise ValueError(f"ks must be a non-empty list of cut-offs >= 1; got {list(ks)}")
    for gene, ranking in rankings.items():
        _check_ranking(gene, ranking)
    causal = causal.drop_duplicates(subset=list(CAUSAL_COLUMNS))
    ranks = _causal_ranks(rankings, causal)
    if (ranks["status"] != _RANKED).any():
        logger.info(
            "%d of %d planted variants are not among their gene's ranked SNPs",
            int((ranks["status"] != _RANKED).sum()),
            len(ranks),
        )
    found = ranks[ranks["status"] == _RANKED]
    genes = found.groupby(found["gene_id"].map(_gene_key)).agg(
        n_snps=("n_snps", "first"), n_causal=("rank", "size")
    )
    summary = pd.DataFrame([_at_k(k, found, genes) for k in ks])
    return PlantedRecovery(summary=summary, causal_ranks=ranks)


def _at_k(k: int, found: pd.DataFrame, genes: pd.DataFrame) -> dict[str, float]:
    """One row of the recovery summary: pooled precision and recall at ``k``."""
    shown = np.minimum(k, genes["n_snps"].to_numpy())
    hits = int((found["rank"] <= k).sum())
    n_causal = int(genes["n_causal"].sum())
    chance = shown / np.maximum(genes["n_snps"].to_numpy(), 1) * genes["n_causal"].to_numpy()
    return {
        "k": k,
        "precision": hits / shown.sum() if shown.sum() else np.nan,
        "recall": hits / n_causal if n_causal else np.nan,
        "random_precision": chance.sum() / shown.sum() if shown.sum() else np.nan,
        "random_recall": chance.sum() / n_causal if n_causal else np.nan,
        "hits": hits,
        "n_genes": len(genes),
        "n_causal": n_causal,
    }


def _snp_signal(track: BigWig, chrom: str, pos: np.ndarray, flank: int) -> np.ndarray:
    """Mean signal over ``[pos - 1 - flank, pos + flank)`` (0-based) for each 1-based ``pos``."""
    lo, hi = int(pos.min()) - 1 - flank, int(pos.max()) + flank
    per_base = track.binned(chrom, lo, hi, 1, "sum").astype(np.float64)
    total = np.concatenate([[0.0], np.cumsum(per_base)])
    start = pos - 1 - flank - lo
    return (total[start + 2 * flank + 1] - total[start]) / (2 * flank + 1)


def _split_signal(
    track: BigWig, rankings: Mapping[str, pd.DataFrame], top_k: int, flank: int
) -> tuple[np.ndarray, np.ndarray]:
    """Signal at the top-``k`` SNPs and at the other SNPs, all genes pooled."""
    top, other = [], []
    for ranking in rankings.values():
        for chrom, snps in ranking.groupby("chrom", sort=False):
            signal = _snp_signal(track, str(chrom), snps["pos"].to_numpy(np.int64), flank)
            is_top = snps["rank"].to_numpy() <= top_k
            top.append(signal[is_top])
            other.append(signal[~is_top])
    return np.concatenate([[], *top]), np.concatenate([[], *other])


def chromatin_enrichment(
    rankings: Mapping[str, pd.DataFrame],
    bigwigs: Mapping[str, str | os.PathLike[str]],
    top_k: int = 10,
    *,
    flank: int = 0,
) -> pd.DataFrame:
    """Signal of active-chromatin tracks at each gene's top SNPs against its other SNPs.

    Parameters
    ----------
    rankings : mapping of str to pandas.DataFrame
        Gene id → :func:`~exprflow.evaluation.mlm_attribution.rank_snps` table (columns
        ``chrom, pos, rank``; ``pos`` 1-based).
    bigwigs : mapping of str to path
        Track name → bigWig (e.g. ``{"H3K27ac": …/E116/H3K27ac.bigWig}``); contig names
        with or without ``chr``.
    top_k : int, optional
        SNPs ranked ≤ ``top_k`` in their gene are "top". Default 10.
    flank : int, optional
        Signal is the mean over the SNP's base ± ``flank`` bases. Default 0.

    Returns
    -------
    pandas.DataFrame
        One row per track: ``track, top_k, flank, n_top, n_other, mean_top,
        mean_other, ratio`` (``mean_top / mean_other``, NaN when the latter is 0) and
        ``p_value`` (one-sided Mann–Whitney U, top > other; NaN when a group is empty).
    """
    if top_k < 1 or flank < 0:
        raise ValueError(f"need top_k >= 1 and flank >= 0; got top_k={top_k}, flank={flank}")
    for gene, ranking in rankings.items():
        _check_ranking(gene, ranking)
    rows = []
    for name, path in bigwigs.items():
        with BigWig(path) as track:
            top, other = _split_signal(track, rankings, top_k, flank)
        mean_top = float(top.mean()) if len(top) else np.nan
        mean_other = float(other.mean()) if len(other) else np.nan
        both = len(top) and len(other)
        rows.append(
            {
                "track": name,
                "top_k": top_k,
                "flank": flank,
                "n_top": len(top),
                "n_other": len(other),
                "mean_top": mean_top,
                "mean_other": mean_other,
                "ratio": mean_top / mean_other if mean_other else np.nan,
                "p_value": (
                    float(mannwhitneyu(top, other, alternative="greater").pvalue)
                    if both
                    else np.nan
                ),
            }
        )
    return pd.DataFrame(rows)
