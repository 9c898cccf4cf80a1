"""Per-individual expression in the LCL-like cell type, written like GEUVADIS.

Every individual's log2 RPKM of a gene is the gene's reference level in the LCL-like
cell type (``layout.cell_expression``, first cell type) plus, over its causal variants,
effect × ALT dosage, plus gaussian noise (sd :data:`INDIVIDUAL_NOISE`). About one
individual in ten has a second library (a technical replicate, sd
:data:`REPLICATE_NOISE`).

Writes ``GD660.GeneQuantRPKM.txt.gz``: gzip (mtime 0, no name: byte-reproducible) TSV
with columns ``TargetID, Gene_Symbol`` (both the versioned Ensembl id, as in GEUVADIS),
``Chr`` (no ``chr`` prefix), ``Coord`` (1-based TSS), then one RPKM column per library
named ``<sample>.<library>.M_<date>_<lane>`` (the sample id is the text before the
first ``.``).
"""

from __future__ import annotations

import gzip
from pathlib import Path

import numpy as np
import pandas as pd

from exprflow.atomic import atomic_path
from exprflow.simulate.causal import CausalPlan
from exprflow.simulate.layout import WorldLayout

__all__ = [
    "INDIVIDUAL_NOISE",
    "REPLICATE_NOISE",
    "individual_log_expression",
    "library_names",
    "simulate_libraries",
    "write_geuvadis_rpkm",
    "write_gzip_text",
]

#: sd of log2 expression across individuals not explained by genotype.
INDIVIDUAL_NOISE = 0.3
#: sd of log2 expression between two libraries of one individual.
REPLICATE_NOISE = 0.1
_REPLICATE_SHARE = 0.1
_RUN_DATES = ("111124", "111215", "120208", "120209", "120228", "120301", "120315")


def individual_log_expression(
    layout: WorldLayout, plan: CausalPlan, rng: np.random.Generator
) -> np.ndarray:
    """log2 RPKM of every gene (layout order) in every individual.

    Parameters
    ----------
    layout : WorldLayout
        Genes and their reference expression in the LCL-like cell type.
    plan : CausalPlan
        Causal variants, with the genotypes of ``plan.haplotypes``.
    rng : numpy.random.Generator
        The expression component's own random stream.

    Returns
    -------
    np.ndarray
        Shape ``(n_genes, n_individuals)``.
    """
    lcl = layout.cell_types[0].eid
    genes = [g.gene_id for g in layout.genes]
    level = np.log2(layout.cell_expression.loc[genes, lcl].to_numpy(dtype=float))
    genotypes = plan.haplotypes.genotypes
    n_individuals = genotypes.shape[1] // 2
    values = np.repeat(level[:, None], n_individuals, axis=1)
    row_of = {g: i for i, g in enumerate(genes)}
    for variant, index in zip(plan.variants, plan.index, strict=True):
        dosage = genotypes[index, 0::2].astype(float) + genotypes[index, 1::2]
        values[row_of[variant.gene_id]] += variant.effect * dosage
    return values + rng.normal(0.0, INDIVIDUAL_NOISE, values.shape)


def library_names(samples: list[str], rng: np.random.Generator) -> tuple[list[str], np.ndarray]:
    """GEUVADIS-style library names; about one sample in ten gets a second library.

    Parameters
    ----------
    samples : list of str
        Sample ids.
    rng : numpy.random.Generator
        Random stream.

    Returns
    -------
    names : list of str
        ``<sample>.<n>.M_<date>_<lane>`` for each library.
    owner : np.ndarray
        Index into ``samples`` of each library.
    """
    n_rep = max(1, round(_REPLICATE_SHARE * len(samples)))
    replicated = set(rng.choice(len(samples), n_rep, replace=False).tolist())
    names, owner = [], []
    for i, sample in enumerate(samples):
        for library in range(1, 3 if i in replicated else 2):
            date = _RUN_DATES[int(rng.integers(len(_RUN_DATES)))]
            names.append(f"{sample}.{library}.M_{date}_{int(rng.integers(1, 9))}")
            owner.append(i)
    return names, np.array(owner, dtype=np.int64)


def simulate_libraries(
    layout: WorldLayout, plan: CausalPlan, rng: np.random.Generator
) -> pd.DataFrame:
    """RPKM of every gene in every library (replicates add technical noise).

    Parameters
    ----------
    layout : WorldLayout
        The world's layout.
    plan : CausalPlan
        Causal variants and genotypes.
    rng : numpy.random.Generator
        The expression component's own random stream.

    Returns
    -------
    pd.DataFrame
        gene_id (index, layout order) × library name, RPKM.
    """
    log_values = individual_log_expression(layout, plan, rng)
    samples = plan.haplotypes.samples["sample"].tolist()
    names, owner = library_names(samples, rng)
    per_library = log_values[:, owner] + rng.normal(
        0.0, REPLICATE_NOISE, (len(log_values), len(owner))
    )
    return pd.DataFrame(
        np.exp2(per_library), index=[g.gene_id for g in layout.genes], columns=names
    )


def write_geuvadis_rpkm(path: Path, layout: WorldLayout, libraries: pd.DataFrame) -> None:
    """Write the GEUVADIS ``GD660.GeneQuantRPKM.txt.gz`` layout, gzipped reproducibly.

    Parameters
    ----------
    path : Path
        Destination ``….txt.gz``.
    layout : WorldLayout
        Genes (id, contig, TSS).
    libraries : pd.DataFrame
        :func:`simulate_libraries` output.
    """
    genes = {g.gene_id: g for g in layout.genes}
    ids = libraries.index.tolist()
    table = pd.DataFrame(
        {
            "TargetID": ids,
            "Gene_Symbol": ids,
            "Chr": [genes[i].chrom.removeprefix("chr") for i in ids],
            "Coord": [genes[i].tss + 1 for i in ids],
        }
    )
    table = pd.concat([table, libraries.reset_index(drop=True)], axis=1)
    text = table.to_csv(sep="\t", index=False, float_format="%.6g", lineterminator="\n")
    write_gzip_text(path, text)


def write_gzip_text(path: Path, text: str) -> None:
    """Gzip ``text`` to ``path`` atomically with no name and mtime 0 (reproducible bytes).

    Parameters
    ----------
    path : Path
        Destination.
    text : str
        Content, UTF-8 encoded.
    """
    with (
        atomic_path(path) as tmp,
        open(tmp, "wb") as raw,
        gzip.GzipFile(filename="", mode="wb", fileobj=raw, mtime=0) as out,
    ):
        out.write(text.encode())
