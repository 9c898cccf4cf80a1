"""A cis-eQTL scan of the simulated population, written like GEUVADIS's EUR373 table.

Reads only the world's real-format files: genotypes from the bgzipped, tabix-indexed VCF
(pysam) and expression from ``GD660.GeneQuantRPKM.txt.gz``. Expression is log2(RPKM +
0.01), averaged over an individual's libraries, then rank-inverse-normal transformed per
gene. Every variant with MAF ≥ ``min_maf`` among the expressed individuals and within
``window`` bases of a gene's TSS is tested: Pearson r between ALT dosage and expression
and a two-sided t-test (n − 2 degrees of freedom), in one matrix product per contig.
Benjamini–Hochberg over all tests keeps those at FDR ≤ ``fdr``.

Writes ``EUR373.gene.cis.FDR5.all.rs137.txt.gz`` (gzip, reproducible): TSV with header
``SNP_ID, ID, GENE_ID, PROBE_ID, CHR_SNP, CHR_GENE, SNPpos, TSSpos, distance, rvalue,
pvalue, log10pvalue``; ``ID`` is ``-`` as in the published file, chromosomes have no
``chr`` prefix, positions are 1-based, ``distance = |SNPpos − TSSpos|``, ``rvalue`` is
signed by the ALT allele and ``log10pvalue`` is −log10(p).
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pysam
from scipy import stats

from exprflow.data.geuvadis import EQTL_COLUMNS, EXPRESSION_ID_COLUMNS
from exprflow.errors import InputError
from exprflow.simulate.expression import write_gzip_text

__all__ = [
    "benjamini_hochberg",
    "read_dosages",
    "read_expression",
    "scan_cis_eqtls",
    "write_eqtls",
]


def read_expression(path: Path) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Read a GEUVADIS RPKM table and average each individual's libraries.

    Parameters
    ----------
    path : Path
        ``GD660.GeneQuantRPKM.txt.gz`` layout.

    Returns
    -------
    genes : pd.DataFrame
        ``TargetID, Chr, Coord`` per gene (file order).
    log_expression : pd.DataFrame
        gene (TargetID) × sample id: mean log2(RPKM + 0.01) over the sample's libraries.
    """
    table = pd.read_csv(path, sep="\t")
    missing = [c for c in EXPRESSION_ID_COLUMNS if c not in table.columns]
    if missing:
        raise InputError(
            path,
            f"missing columns {missing}; expected {list(EXPRESSION_ID_COLUMNS)} then libraries",
            fix="pass a GD660.GeneQuantRPKM-style table",
        )
    libraries = table.columns[len(EXPRESSION_ID_COLUMNS) :]
    values = table[libraries].set_axis(table["TargetID"], axis=0)
    logged = np.log2(values.astype(float) + 0.01)
    samples = [c.split(".", 1)[0] for c in libraries]
    averaged = logged.T.groupby(samples, sort=False).mean().T
    genes = table[["TargetID", "Chr", "Coord"]].copy()
    genes["Chr"] = genes["Chr"].astype(str).str.removeprefix("chr")
    return genes, averaged


def read_dosages(
    vcf: Path, contig: str, samples: list[str]
) -> tuple[list[str], np.ndarray, np.ndarray]:
    """ALT dosages of every record on ``contig`` for ``samples`` (GT-only VCF).

    Parameters
    ----------
    vcf : Path
        bgzipped, tabix-indexed VCF whose FORMAT is ``GT`` alone.
    contig : str
        Contig to read.
    samples : list of str
        Sample ids, a subset of the VCF's, in the wanted order.

    Returns
    -------
    ids : list of str
        Record ids.
    positions : np.ndarray
        1-based ``POS``.
    dosages : np.ndarray
        Shape ``(n_records, len(samples))``, values 0, 1 or 2.
    """
    with pysam.VariantFile(str(vcf)) as header_reader:
        all_samples = list(header_reader.header.samples)
    columns = np.array([all_samples.index(s) for s in samples], dtype=np.intp)
    n = len(all_samples)
    ids, positions, texts = [], [], []
    with pysam.TabixFile(str(vcf)) as tbx:
        if contig not in tbx.contigs:
            return [], np.zeros(0, np.int64), np.zeros((0, len(samples)), np.int8)
        for line in tbx.fetch(contig):
            fields = line.split("\t", 9)
            if fields[8] != "GT" or len(fields[9]) != 4 * n - 1:
                raise InputError(
                    vcf,
                    f"expected FORMAT GT and {n} diploid genotypes like 0|1",
                    record=f"{fields[0]}:{fields[1]} {fields[2]}",
                    fix="pass the world's phased GT-only VCF",
                )
            ids.append(fields[2])
            positions.append(int(fields[1]))
            texts.append(fields[9])
    if not texts:
        return ids, np.zeros(0, np.int64), np.zeros((0, len(samples)), np.int8)
    gt = np.frombuffer(("\t".join(texts) + "\t").encode(), dtype=np.uint8).reshape(len(texts), n, 4)
    alleles = gt[:, columns][:, :, [0, 2]].astype(np.int8) - ord("0")
    if ((alleles < 0) | (alleles > 1)).any():
        raise InputError(
            vcf,
            "genotypes must be 0 or 1 on both haplotypes",
            fix="pass a biallelic VCF with no missing calls",
        )
    return ids, np.array(positions, dtype=np.int64), alleles.sum(axis=2)


def _rank_inverse_normal(values: np.ndarray) -> np.ndarray:
    """Rank-inverse-normal transform of each row, then exactly standardised."""
    ranks = stats.rankdata(values, axis=1)
    z = stats.norm.ppf((ranks - 0.5) / values.shape[1])
    return (z - z.mean(axis=1, keepdims=True)) / z.std(axis=1, keepdims=True)


def benjamini_hochberg(pvalues: np.ndarray) -> np.ndarray:
    """Benjamini–Hochberg adjusted p-values (q-values), same order as ``pvalues``."""
    n = len(pvalues)
    if n == 0:
        return pvalues.copy()
    order = np.argsort(pvalues)
    scaled = pvalues[order] * n / np.arange(1, n + 1)
    q = np.minimum.accumulate(scaled[::-1])[::-1]
    out = np.empty(n)
    out[order] = np.minimum(q, 1.0)
    return out


def _scan_contig(
    vcf: Path,
    contig: str,
    genes: pd.DataFrame,
    expr: np.ndarray,
    samples: list[str],
    window: int,
    min_maf: float,
) -> pd.DataFrame:
    """All cis tests on one contig (no FDR yet)."""
    ids, pos, dosage = read_dosages(vcf, contig, samples)
    freq = dosage.mean(axis=1) / 2
    keep = (np.minimum(freq, 1 - freq) >= min_maf) & (freq > 0) & (freq < 1)
    if not keep.any():
        return pd.DataFrame()
    ids, pos, g = np.array(ids)[keep], pos[keep], dosage[keep].astype(float)
    gz = (g - g.mean(axis=1, keepdims=True)) / g.std(axis=1, keepdims=True)
    n = len(samples)
    r = np.clip(gz @ expr.T / n, -1 + 1e-12, 1 - 1e-12)
    tss = genes["Coord"].to_numpy(dtype=np.int64)
    distance = np.abs(pos[:, None] - tss[None, :])
    v, k = np.nonzero(distance <= window)
    rv = r[v, k]
    t = rv * np.sqrt((n - 2) / (1 - rv**2))
    p = np.maximum(2 * stats.t.sf(np.abs(t), n - 2), np.finfo(float).tiny)
    chrom = contig.removeprefix("chr")
    return pd.DataFrame(
        {
            "SNP_ID": ids[v],
            "ID": "-",
            "GENE_ID": genes["TargetID"].to_numpy()[k],
            "PROBE_ID": genes["TargetID"].to_numpy()[k],
            "CHR_SNP": chrom,
            "CHR_GENE": chrom,
            "SNPpos": pos[v],
            "TSSpos": tss[k],
            "distance": distance[v, k],
            "rvalue": rv,
            "pvalue": p,
            "log10pvalue": -np.log10(p),
            "_gene_order": genes.index.to_numpy()[k],
        }
    )


def scan_cis_eqtls(
    vcf: Path,
    expression: Path,
    window: int = 1_000_000,
    min_maf: float = 0.05,
    fdr: float = 0.05,
) -> pd.DataFrame:
    """Scan every gene against its cis variants; keep the BH-significant pairs.

    Parameters
    ----------
    vcf : Path
        Phased GT-only VCF (bgzipped, tabix-indexed).
    expression : Path
        ``GD660.GeneQuantRPKM.txt.gz``-layout table.
    window : int
        Largest |SNP − TSS| tested, in bases. Default is 1,000,000.
    min_maf : float
        Smallest minor-allele frequency tested. Default is 0.05.
    fdr : float
        Benjamini–Hochberg false-discovery rate kept. Default is 0.05.

    Returns
    -------
    pd.DataFrame
        Columns :data:`~exprflow.data.geuvadis.EQTL_COLUMNS`, ordered by gene (file
        order) then p-value.
    """
    genes, log_expr = read_expression(expression)
    with pysam.VariantFile(str(vcf)) as reader:
        vcf_samples = list(reader.header.samples)
        contigs = [str(c) for c in reader.header.contigs]
    samples = [s for s in vcf_samples if s in set(log_expr.columns)]
    if len(samples) < 3:
        raise InputError(
            expression,
            f"only {len(samples)} of its samples are in {vcf}; need at least 3",
            fix="pass the expression table and the VCF of the same individuals",
        )
    expr = _rank_inverse_normal(log_expr[samples].to_numpy(dtype=float))
    parts = []
    for contig in contigs:
        on = (genes["Chr"] == contig.removeprefix("chr")).to_numpy()
        if on.any():
            parts.append(_scan_contig(vcf, contig, genes[on], expr[on], samples, window, min_maf))
    tests = (
        pd.concat([p for p in parts if len(p)], ignore_index=True)
        if any(len(p) for p in parts)
        else None
    )
    if tests is None:
        return pd.DataFrame(columns=list(EQTL_COLUMNS))
    significant = tests[benjamini_hochberg(tests["pvalue"].to_numpy()) <= fdr]
    ordered = significant.sort_values(["_gene_order", "pvalue", "SNPpos"], kind="stable")
    return ordered[list(EQTL_COLUMNS)].reset_index(drop=True)


def write_eqtls(path: Path, table: pd.DataFrame) -> None:
    """Write the eQTL table in the EUR373 layout, gzipped reproducibly.

    Parameters
    ----------
    path : Path
        Destination ``….txt.gz``.
    table : pd.DataFrame
        :func:`scan_cis_eqtls` output.
    """
    text = table[list(EQTL_COLUMNS)].to_csv(
        sep="\t", index=False, float_format="%.15g", lineterminator="\n"
    )
    write_gzip_text(path, text)
