"""Train ExPecto's per-cell-type linear expression models on reference-genome features.

Two steps, as ExPecto's ``train.py`` on ``Xreducedall``:

1. :func:`reference_features`: every gene's 200 reference windows through the chromatin
   and reduce plug-ins (e.g. :mod:`exprflow.models.expecto.plugins`) → ``(G, D)``.
   Windows come from :func:`exprflow.scoring.windows.haplotype_windows` (the scoring
   engine's geometry, so training and scoring see the same bases) and go through a
   :class:`~exprflow.scoring.dedup.WindowBank` (windows shared by nearby genes run once).
   Not :func:`~exprflow.scoring.engine.score_genes` itself: that writes one file per gene
   and stores reduced features only as float16, where training wants float32 in memory.
2. :func:`train_tissue_models`: one xgboost ``gblinear`` model per cell type
   (:func:`~exprflow.models.expecto.tissue.train_tissue_model`) on
   ``ln(RPKM + pseudocount)``; genes on ``held_out_chroms`` are the test set, genes on
   ``exclude_chroms`` are dropped, and Spearman / Pearson correlations are reported on
   test and training genes.

Gene ids are joined to the RPKM table without versions
(:func:`~exprflow.data.roadmap.strip_version`); genes absent from the table are left out
(and counted in the log). Chromosome names match with or without a ``chr`` prefix
(``"chr4"`` selects genes on ``4``). ExPecto also dropped rRNA genes; Roadmap's
``RPKM.pc`` table holds protein-coding genes only, so no such filter is applied here.

:func:`write_tissue_models` writes ``<cell type>.json`` per model (exprflow JSON), an
ExPecto ``modellist`` (``ModelName<TAB>Tissue``, readable by
:func:`~exprflow.models.expecto.tissue.load_tissue_models`) and ``metrics.tsv``.
"""

from __future__ import annotations

import logging
import os
import re
from collections.abc import Sequence
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any, Final

import numpy as np
import pandas as pd
from scipy import stats
from tqdm.auto import tqdm

from exprflow.atomic import atomic_path
from exprflow.data.roadmap import strip_version
from exprflow.errors import InputError
from exprflow.genome.contigs import chrom_key
from exprflow.genome.fasta import Genome
from exprflow.models.expecto.tissue import (
    MODEL_LIST_FILE,
    LinearTissueModel,
    save_json,
    train_tissue_model,
)
from exprflow.scoring.dedup import Chromatin, WindowBank
from exprflow.scoring.engine import Reduce
from exprflow.scoring.plan import plan_genes
from exprflow.scoring.windows import WINDOW, haplotype_windows

__all__ = [
    "GTEX_PSEUDOCOUNT",
    "METRICS_FILE",
    "MODEL_LIST_FILE",
    "ROADMAP_PSEUDOCOUNT",
    "TissueFit",
    "reference_features",
    "train_tissue_models",
    "write_tissue_models",
]

log = logging.getLogger(__name__)

#: ExPecto's pseudocount for Roadmap / ENCODE samples (the default here: Roadmap RPKM).
ROADMAP_PSEUDOCOUNT: Final = 0.01
#: ExPecto's pseudocount for GTEx tissues.
GTEX_PSEUDOCOUNT: Final = 0.0001
METRICS_FILE: Final = "metrics.tsv"
_SAFE_NAME = re.compile(r"^[A-Za-z0-9_+=-][A-Za-z0-9_.+=-]*$")


def reference_features(
    genes: pd.DataFrame,
    genome: Genome,
    chromatin: Chromatin,
    reduce: Reduce,
    *,
    batch_size: int = 1024,
    genes_per_batch: int = 16,
    allow_padding: bool = False,
    progress: bool = True,
) -> np.ndarray:
    """Compute every gene's reduced features on the reference genome.

    Parameters
    ----------
    genes : pandas.DataFrame
        Gene table: gene_id, chrom, tss (0-based TSS base), strand; checked as
        :func:`~exprflow.scoring.engine.score_genes` checks it.
    genome : Genome
        Reference FASTA.
    chromatin : Chromatin
        One-hot windows ``(N, 4, 2000)`` float32, AGCT → ``(N, F)``.
    reduce : Reduce
        ``(g, 200, F)`` → ``(g, D)``.
    batch_size : int, default 1024
        Windows per chromatin call.
    genes_per_batch : int, default 16
        Genes whose windows share the bank before it is cleared (memory: about
        ``200 × genes_per_batch × F × 4`` bytes).
    allow_padding : bool, default False
        Accept genes whose windows run past a contig end (``N``-padded).
    progress : bool, default True
        Show a tqdm bar over genes.

    Returns
    -------
    numpy.ndarray
        float32 ``(G, D)``, rows in gene-table order.

    Raises
    ------
    InputError
        On a bad gene table (see :func:`~exprflow.scoring.engine.score_genes`).
    """
    if genes_per_batch < 1:
        raise ValueError(f"genes_per_batch must be >= 1, got {genes_per_batch}")
    tasks = plan_genes(genes, genome, None, allow_padding)
    if not tasks:
        raise ValueError("the gene table is empty")
    bank, rows = WindowBank(WINDOW), []
    with tqdm(
        total=len(tasks), desc="reference features", unit="gene", disable=not progress
    ) as bar:
        for first in range(0, len(tasks), genes_per_batch):
            group = tasks[first : first + genes_per_batch]
            slots = np.stack(
                [bank.add(haplotype_windows(genome, t.chrom, t.tss, t.strand)) for t in group]
            )
            bank.evaluate(chromatin, batch_size)
            reduced = np.asarray(reduce(bank.features(slots)), dtype=np.float32)
            if reduced.ndim != 2 or reduced.shape[0] != len(group):
                raise ValueError(f"reduce returned {reduced.shape} for {len(group)} genes")
            rows.append(reduced)
            bank.clear()
            bar.update(len(group))
    log.info("reference features of %d genes: %d windows run", len(tasks), bank.evaluations)
    return np.concatenate(rows)


@dataclass(frozen=True)
class TissueFit:
    """One cell type's trained model and how well it predicts.

    Correlations are between predicted and observed ``ln(RPKM + pseudocount)``; NaN
    when a set has fewer than 2 genes or constant values.

    Attributes
    ----------
    model : LinearTissueModel
        ``tissue`` is the cell type (eid); ``training`` records every setting.
    n_train, n_test : int
        Training and held-out genes.
    spearman_test, pearson_test : float
        On held-out genes.
    spearman_train, pearson_train : float
        On training genes.
    """

    model: LinearTissueModel
    n_train: int
    n_test: int
    spearman_test: float
    pearson_test: float
    spearman_train: float
    pearson_train: float

    @property
    def tissue(self) -> str:
        """The cell type."""
        return self.model.tissue

    def metrics(self) -> dict[str, float]:
        """Return the counts and correlations as a flat dict (for logging)."""
        return {
            "n_train": self.n_train,
            "n_test": self.n_test,
            "spearman_test": self.spearman_test,
            "pearson_test": self.pearson_test,
            "spearman_train": self.spearman_train,
            "pearson_train": self.pearson_train,
        }


def _correlations(predicted: np.ndarray, observed: np.ndarray) -> tuple[float, float]:
    """Spearman and Pearson correlation; NaN for fewer than 2 values or a constant side."""
    if len(observed) < 2 or np.ptp(predicted) == 0 or np.ptp(observed) == 0:
        return float("nan"), float("nan")
    spearman = stats.spearmanr(predicted, observed).statistic
    return float(spearman), float(stats.pearsonr(predicted, observed).statistic)


def _rows(genes: pd.DataFrame, rpkm: pd.DataFrame) -> pd.Series:
    """Each gene-table row's unversioned id, refusing a bad table or no overlap."""
    source = str(genes.attrs.get("path", "<gene table>"))
    missing = [c for c in ("gene_id", "chrom") if c not in genes.columns]
    if missing:
        raise InputError(source, f"lacks column(s) {missing}.", fix="give a gene table.")
    ids = pd.Series(strip_version(genes["gene_id"].astype(str)), index=genes.index)
    if ids.duplicated().any():
        raise InputError(
            source,
            "gene id appears twice (versions ignored).",
            record=str(ids[ids.duplicated()].iloc[0]),
            fix="keep one row per gene.",
        )
    if not ids.isin(rpkm.index).any():
        raise InputError(
            str(rpkm.attrs.get("path", "<RPKM table>")),
            f"none of the {len(ids)} genes (e.g. {ids.iloc[0]}) is in the RPKM table "
            f"(e.g. {', '.join(map(str, rpkm.index[:3]))}).",
            fix="give the expression table of the gene table's annotation.",
        )
    return ids


def _split(
    genes: pd.DataFrame, known: np.ndarray, held_out: Sequence[str], excluded: Sequence[str]
) -> tuple[np.ndarray, np.ndarray]:
    """Boolean masks of training and test rows (genes with expression, not excluded)."""
    keys = genes["chrom"].map(chrom_key).to_numpy()
    usable = known & ~np.isin(keys, [chrom_key(c) for c in excluded])
    test = usable & np.isin(keys, [chrom_key(c) for c in held_out])
    train = usable & ~test
    if not test.any() or not train.any():
        raise ValueError(
            f"held_out_chroms={list(held_out)} leaves {int(train.sum())} training and "
            f"{int(test.sum())} test genes with expression (after excluding "
            f"{list(excluded)}); both must be > 0"
        )
    return train, test


def train_tissue_models(
    features: np.ndarray,
    genes: pd.DataFrame,
    rpkm: pd.DataFrame,
    *,
    held_out_chroms: Sequence[str] = ("chr4",),
    exclude_chroms: Sequence[str] = ("chrX", "chrY"),
    pseudocount: float = ROADMAP_PSEUDOCOUNT,
    l2: float = 100.0,
    eta: float = 0.01,
    rounds: int = 100,
    base_score: float = 2.0,
    progress: bool = True,
) -> list[TissueFit]:
    """Train one ExPecto linear model per cell type, testing on held-out chromosomes.

    Parameters
    ----------
    features : numpy.ndarray
        ``(G, D)`` reference features, rows in ``genes`` order
        (:func:`reference_features`), exprflow layout.
    genes : pandas.DataFrame
        Gene table with ``gene_id`` (versioned or not) and ``chrom``.
    rpkm : pandas.DataFrame
        RPKM, unversioned gene id × cell type
        (:func:`~exprflow.data.roadmap.read_roadmap_rpkm`); one model per column.
    held_out_chroms : sequence of str, default ("chr4",)
        Test chromosomes (ExPecto held out chr8; the synthetic worlds have chr1–chr4).
    exclude_chroms : sequence of str, default ("chrX", "chrY")
        Chromosomes left out of training and test, as in ExPecto.
    pseudocount : float, default 0.01
        Target is ``ln(RPKM + pseudocount)``. ExPecto used 0.01 for Roadmap/ENCODE
        samples (:data:`ROADMAP_PSEUDOCOUNT`, the default since ``rpkm`` is Roadmap's
        table) and 0.0001 for GTEx tissues (:data:`GTEX_PSEUDOCOUNT`).
    l2, eta, rounds, base_score : float, float, int, float
        xgboost settings, ExPecto's by default: 100 (in xgboost 0.7 units), 0.01, 100, 2.
    progress : bool, default True
        Show a tqdm bar over cell types.

    Returns
    -------
    list of TissueFit
        One per ``rpkm`` column, in column order; predictions are in
        ``ln(RPKM + pseudocount)``.

    Raises
    ------
    InputError
        Gene table without gene_id/chrom, repeated gene ids, no gene in the RPKM table.
    ValueError
        Misshapen or non-finite features, pseudocount <= 0, an empty train or test set.
    """
    x = np.asarray(features, dtype=np.float64)
    if x.ndim != 2 or x.shape[0] != len(genes) or not np.isfinite(x).all():
        raise ValueError(
            f"features must be finite with shape ({len(genes)}, D) (one row per gene), "
            f"got {x.shape}"
        )
    if not pseudocount > 0:
        raise ValueError(f"pseudocount must be > 0, got {pseudocount}")
    ids = _rows(genes, rpkm)
    known = ids.isin(rpkm.index).to_numpy()
    log.info("%d of %d genes have expression in the RPKM table", known.sum(), len(ids))
    train, test = _split(genes, known, held_out_chroms, exclude_chroms)
    targets = np.log(rpkm.reindex(ids.to_numpy()).to_numpy(dtype=np.float64) + pseudocount)
    settings: dict[str, Any] = {
        "target": "ln(RPKM + pseudocount)",
        "pseudocount": pseudocount,
        "held_out_chroms": list(held_out_chroms),
        "exclude_chroms": list(exclude_chroms),
        "n_train": int(train.sum()),
        "n_test": int(test.sum()),
    }
    fits = []
    for column, tissue in enumerate(tqdm(rpkm.columns, desc="tissue models", disable=not progress)):
        y = targets[:, column]
        model = train_tissue_model(
            x[train], y[train], l2=l2, eta=eta, rounds=rounds, base_score=base_score,
            tissue=str(tissue),
        )  # fmt: skip
        model = replace(model, training={**model.training, **settings})
        predicted = model.predict(x)
        fit = TissueFit(
            model,
            int(train.sum()),
            int(test.sum()),
            *_correlations(predicted[test], y[test]),
            *_correlations(predicted[train], y[train]),
        )
        log.info("%s: %s", tissue, fit.metrics())
        fits.append(fit)
    return fits


def write_tissue_models(fits: Sequence[TissueFit], out_dir: str | os.PathLike[str]) -> Path:
    """Write the models (exprflow JSON), an ExPecto model list and a metrics table.

    Parameters
    ----------
    fits : sequence of TissueFit
        Trained models, with distinct tissue names usable as file names.
    out_dir : str or PathLike
        Folder, created when absent; gets ``<tissue>.json``, :data:`MODEL_LIST_FILE` and
        :data:`METRICS_FILE` (tab-separated: tissue, then :meth:`TissueFit.metrics`),
        each written atomically.

    Returns
    -------
    Path
        The model list, for :func:`~exprflow.models.expecto.tissue.load_tissue_models`.
    """
    tissues = [fit.tissue for fit in fits]
    bad = [t for t in tissues if not _SAFE_NAME.match(t) or tissues.count(t) > 1]
    if bad or not fits:
        raise ValueError(f"tissue names must be distinct file-name-safe strings, got {bad}")
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    for fit in fits:
        save_json(fit.model, out / f"{fit.tissue}.json")
    with atomic_path(out / METRICS_FILE) as tmp:
        table = pd.DataFrame([{"tissue": fit.tissue, **fit.metrics()} for fit in fits])
        table.to_csv(tmp, sep="\t", index=False)
    with atomic_path(out / MODEL_LIST_FILE) as tmp:
        tmp.write_text("".join(["ModelName\tTissue\n", *(f"{t}.json\t{t}\n" for t in tissues)]))
    return out / MODEL_LIST_FILE
