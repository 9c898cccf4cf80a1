"""Simulate a human-like population with msprime and write it as a phased VCF.

The demography is the three-population Out-of-Africa model of Gutenkunst et al. (2009,
PLoS Genet 5:e1000695, "Model 3"; the maximum-likelihood values of their Table 1, as in
msprime's documentation and stdpopsim's ``OutOfAfrica_3G09``), written out below.
Every chromosome is simulated separately with recombination 1e-8 and mutation 1.25e-8 per
base per generation, diploid individuals sampled from CEU (EUR), YRI (AFR) and CHB (EAS).

Sites with more than one mutation are dropped. About 8 % of the remaining variants become
short insertions or deletions (VCF style: anchored on the preceding base) and variants
whose reference spans collide are dropped, so the VCF is biallelic and sorted.

Writes ``population.vcf.gz`` (BGZF, VCFv4.2, phased ``GT`` only, ``AC/AN/AF`` in INFO,
``##contig`` lines, 1-based ``POS``) plus its tabix ``.tbi`` and ``samples.tsv``
(``sample, population, super_pop, sex, split``). REF is always read from the world's
FASTA, so it agrees with it by construction. Positions are 0-based inside this module.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, replace
from pathlib import Path

import msprime
import numpy as np
import pandas as pd
import pysam

from exprflow.atomic import atomic_path
from exprflow.errors import InputError

__all__ = [
    "DELETION",
    "INSERTION",
    "POPULATIONS",
    "SNV",
    "Haplotypes",
    "alt_code_for",
    "drop_collisions",
    "out_of_africa",
    "simulate_population",
    "variant_ids",
    "write_samples",
    "write_vcf",
]

#: Sampled populations: (name, super-population, share of the individuals).
POPULATIONS: tuple[tuple[str, str, float], ...] = (
    ("CEU", "EUR", 0.7),
    ("YRI", "AFR", 0.2),
    ("CHB", "EAS", 0.1),
)
RECOMBINATION_RATE = 1e-8
MUTATION_RATE = 1.25e-8
SNV, INSERTION, DELETION = 0, 1, 2
_INDEL_FRACTION = 0.08
_REF_DERIVED_FRACTION = 0.05  # SNVs whose REF is the derived allele (ALT frequency > 0.5)
_TEST_FRACTION = 0.2
_EDGE = 16  # bases kept variant-free at contig ends

# SNV ALT by code: 0 = the transition partner, 1 and 2 = the two transversions.
_ALT_TABLE = {"A": "GCT", "C": "TAG", "G": "ACT", "T": "CAG"}
_ALT_LOOKUP = np.zeros((3, 256), dtype=np.uint8)
for _ref, _alts in _ALT_TABLE.items():
    for _code, _alt in enumerate(_alts):
        _ALT_LOOKUP[_code, ord(_ref)] = ord(_alt)


def alt_code_for(ref: str, alt: str) -> int:
    """Code (0 transition, 1/2 transversions) that turns SNV base ``ref`` into ``alt``."""
    return _ALT_TABLE[ref].index(alt)


def out_of_africa() -> msprime.Demography:
    """The Gutenkunst et al. (2009) three-population Out-of-Africa demography.

    Returns
    -------
    msprime.Demography
        Populations YRI, CEU, CHB (sampled) and OOA, AMH, ANC (ancestral); sizes are
        diploid, times in generations (25 years each).
    """
    generation = 25
    n_ancestral, n_bottleneck, n_africa = 7300, 2100, 12300
    n_eu0, n_as0, r_eu, r_as = 1000, 510, 0.004, 0.0055
    t_africa, t_bottleneck, t_eu_as = 220e3 / generation, 140e3 / generation, 21.2e3 / generation
    demography = msprime.Demography()
    demography.add_population(name="YRI", initial_size=n_africa)
    demography.add_population(
        name="CEU", initial_size=n_eu0 * math.exp(r_eu * t_eu_as), growth_rate=r_eu
    )
    demography.add_population(
        name="CHB", initial_size=n_as0 * math.exp(r_as * t_eu_as), growth_rate=r_as
    )
    demography.add_population(name="OOA", initial_size=n_bottleneck)
    demography.add_population(name="AMH", initial_size=n_africa)
    demography.add_population(name="ANC", initial_size=n_ancestral)
    demography.set_symmetric_migration_rate(["CEU", "CHB"], 9.6e-5)
    demography.set_symmetric_migration_rate(["YRI", "CEU"], 3e-5)
    demography.set_symmetric_migration_rate(["YRI", "CHB"], 1.9e-5)
    demography.add_population_split(time=t_eu_as, derived=["CEU", "CHB"], ancestral="OOA")
    demography.add_symmetric_migration_rate_change(
        time=t_eu_as, populations=["YRI", "OOA"], rate=25e-5
    )
    demography.add_population_split(time=t_bottleneck, derived=["YRI", "OOA"], ancestral="AMH")
    demography.add_population_split(time=t_africa, derived=["AMH"], ancestral="ANC")
    return demography


@dataclass(frozen=True)
class Haplotypes:
    """Phased variants of all individuals, with the allele plan but not yet the bases.

    Attributes
    ----------
    samples : pd.DataFrame
        One row per individual: ``sample, population, super_pop, sex, split``.
    contigs : dict[str, int]
        Contig name → length, in VCF order.
    chrom : np.ndarray
        Contig index of each variant, shape ``(n_variants,)``.
    pos : np.ndarray
        0-based position of the first REF base (the anchor base for indels).
    kind : np.ndarray
        :data:`SNV`, :data:`INSERTION` or :data:`DELETION`.
    size : np.ndarray
        Inserted or deleted length (0 for SNVs).
    alt_code : np.ndarray
        SNV ALT relative to REF: 0 transition, 1 or 2 transversions.
    inserted : np.ndarray
        Inserted bases (object array of str; ``""`` unless an insertion).
    genotypes : np.ndarray
        ALT allele (0/1), uint8, shape ``(n_variants, 2 * n_individuals)``; columns
        ``2i`` and ``2i + 1`` are individual ``i``'s two haplotypes.
    """

    samples: pd.DataFrame
    contigs: dict[str, int]
    chrom: np.ndarray
    pos: np.ndarray
    kind: np.ndarray
    size: np.ndarray
    alt_code: np.ndarray
    inserted: np.ndarray
    genotypes: np.ndarray

    @property
    def end(self) -> np.ndarray:
        """0-based exclusive end of each variant's REF allele."""
        return self.pos + 1 + np.where(self.kind == DELETION, self.size, 0)

    @property
    def alt_frequency(self) -> np.ndarray:
        """ALT allele frequency over all haplotypes."""
        return self.genotypes.mean(axis=1)

    def subset(self, keep: np.ndarray) -> Haplotypes:
        """Variants selected by a boolean mask or an index array, order kept as given."""
        fields = ("chrom", "pos", "kind", "size", "alt_code", "inserted", "genotypes")
        return replace(self, **{f: getattr(self, f)[keep] for f in fields})

    def sorted(self) -> Haplotypes:
        """Variants ordered by contig then position."""
        return self.subset(np.lexsort((self.pos, self.chrom)))


def _sample_table(n: int, rng: np.random.Generator) -> pd.DataFrame:
    """Individuals per population, 1000 Genomes-like ids, sex and a 20 % test split."""
    counts = [int(np.floor(share * n)) for _, _, share in POPULATIONS]
    counts[0] += n - sum(counts)
    pops = [p for (p, _, _), c in zip(POPULATIONS, counts, strict=True) for _ in range(c)]
    supers = dict((p, s) for p, s, _ in POPULATIONS)
    test = np.zeros(n, dtype=bool)
    test[rng.permutation(n)[: round(_TEST_FRACTION * n)]] = True
    return pd.DataFrame(
        {
            "sample": [f"HG{96 + i:05d}" for i in range(n)],
            "population": pops,
            "super_pop": [supers[p] for p in pops],
            "sex": np.where(rng.random(n) < 0.5, "male", "female"),
            "split": np.where(test, "test", "train"),
        }
    )


def _simulate_contig(
    length: int, samples: pd.DataFrame, rng: np.random.Generator
) -> tuple[np.ndarray, np.ndarray]:
    """Run msprime ancestry and mutations on one contig: (0-based positions, 0/1 genotypes)."""
    counts = samples["population"].value_counts()
    wanted = {p: int(counts[p]) for p, _, _ in POPULATIONS if p in counts}
    seeds = rng.integers(1, 2**31 - 1, size=2)
    ts = msprime.sim_ancestry(
        samples=wanted,
        demography=out_of_africa(),
        sequence_length=length,
        recombination_rate=RECOMBINATION_RATE,
        ploidy=2,
        random_seed=int(seeds[0]),
    )
    mts = msprime.sim_mutations(
        ts, rate=MUTATION_RATE, model=msprime.BinaryMutationModel(), random_seed=int(seeds[1])
    )
    n_mutations = np.bincount(mts.tables.mutations.site, minlength=mts.num_sites)
    positions = mts.tables.sites.position.astype(np.int64)
    genotypes = mts.genotype_matrix().astype(np.uint8)
    keep = (n_mutations == 1) & (positions >= _EDGE) & (positions < length - _EDGE)
    return positions[keep], genotypes[keep]


def simulate_population(
    contigs: dict[str, int], n_individuals: int, rng: np.random.Generator
) -> Haplotypes:
    """Simulate every contig and draw the allele plan (SNV / insertion / deletion).

    Parameters
    ----------
    contigs : dict[str, int]
        Contig name → length.
    n_individuals : int
        Diploid individuals.
    rng : numpy.random.Generator
        The population's own random stream.

    Returns
    -------
    Haplotypes
        Sorted, biallelic, non-colliding variants on all contigs.
    """
    if n_individuals < len(POPULATIONS):
        raise ValueError(f"n_individuals={n_individuals}; need at least {len(POPULATIONS)}")
    samples = _sample_table(n_individuals, rng)
    parts = []
    for index, length in enumerate(contigs.values()):
        pos, genotypes = _simulate_contig(length, samples, rng)
        parts.append(_allele_plan(index, pos, genotypes, rng))
    haps = Haplotypes(
        samples,
        dict(contigs),
        *(np.concatenate([p[i] for p in parts]) for i in range(7)),
    )
    return drop_collisions(haps)


def _allele_plan(
    chrom: int, pos: np.ndarray, genotypes: np.ndarray, rng: np.random.Generator
) -> tuple[np.ndarray, ...]:
    """Kinds, sizes, SNV ALT codes and inserted bases for one contig's variants."""
    n = len(pos)
    kind = np.full(n, SNV, dtype=np.int8)
    indel = rng.random(n) < _INDEL_FRACTION
    kind[indel] = np.where(rng.random(int(indel.sum())) < 0.5, INSERTION, DELETION)
    size = np.where(kind == SNV, 0, np.minimum(rng.geometric(0.55, n), 8)).astype(np.int64)
    alt_code = np.where(rng.random(n) < 2 / 3, 0, rng.integers(1, 3, n)).astype(np.int8)
    inserted = np.array(
        [
            "".join(rng.choice(list("ACGT"), s)) if k == INSERTION else ""
            for k, s in zip(kind, size, strict=True)
        ],
        dtype=object,
    )
    flip = (kind == SNV) & (rng.random(n) < _REF_DERIVED_FRACTION)
    genotypes = genotypes.copy()
    genotypes[flip] = 1 - genotypes[flip]
    return np.full(n, chrom, dtype=np.int16), pos, kind, size, alt_code, inserted, genotypes


def drop_collisions(haps: Haplotypes) -> Haplotypes:
    """Sort, then drop every variant whose REF span overlaps an earlier one's."""
    haps = haps.sorted()
    end = haps.end
    keep = np.ones(len(haps.pos), dtype=bool)
    for c in np.unique(haps.chrom):
        idx = np.flatnonzero(haps.chrom == c)
        reach = np.maximum.accumulate(end[idx])
        keep[idx[1:]] = haps.pos[idx[1:]] >= reach[:-1]
    return haps.subset(keep)


def write_samples(path: Path, samples: pd.DataFrame) -> None:
    """Write the samples table (TSV with header), atomically.

    Parameters
    ----------
    path : Path
        Destination, e.g. ``variants/samples.tsv``.
    samples : pd.DataFrame
        :attr:`Haplotypes.samples`.
    """
    with atomic_path(path) as tmp:
        samples.to_csv(tmp, sep="\t", index=False, lineterminator="\n")


def variant_ids(n: int) -> list[str]:
    """rs-style ids of the ``n`` variants of a VCF, in file order (``rs9000000001`` …)."""
    return [f"rs{9_000_000_001 + i}" for i in range(n)]


def _alleles(
    haps: Haplotypes, contig: np.ndarray, idx: np.ndarray, fasta: Path
) -> tuple[list[str], list[str]]:
    """REF (from the FASTA) and ALT strings of the variants ``idx`` on one contig."""
    pos = haps.pos[idx]
    bases = contig[pos]
    bad = ~np.isin(bases, np.frombuffer(b"ACGT", dtype=np.uint8))
    if bad.any():
        raise InputError(
            fasta,
            f"reference base {chr(bases[bad][0])!r} is not A, C, G or T",
            record=f"position {int(pos[bad][0]) + 1}",
            fix="write the VCF against the world's own genome FASTA",
        )
    refs = bases.view("S1").astype(str).tolist()
    alts = _ALT_LOOKUP[haps.alt_code[idx].astype(np.intp), bases].view("S1").astype(str).tolist()
    for j in np.flatnonzero(haps.kind[idx] != SNV):
        i = idx[j]
        if haps.kind[i] == DELETION:
            refs[j] = contig[pos[j] : pos[j] + 1 + haps.size[i]].tobytes().decode()
            alts[j] = chr(bases[j])
        else:
            alts[j] = chr(bases[j]) + haps.inserted[i]
    return refs, alts


def _vcf_header(haps: Haplotypes, fasta: Path) -> str:
    lines = [
        "##fileformat=VCFv4.2",
        "##source=exprflow.simulate (msprime Out-of-Africa, Gutenkunst 2009)",
        f"##reference={fasta.name}",
        *(f"##contig=<ID={name},length={length}>" for name, length in haps.contigs.items()),
        '##INFO=<ID=AC,Number=A,Type=Integer,Description="ALT allele count">',
        '##INFO=<ID=AN,Number=1,Type=Integer,Description="Total number of alleles">',
        '##INFO=<ID=AF,Number=A,Type=Float,Description="ALT allele frequency">',
        '##INFO=<ID=VT,Number=.,Type=String,Description="Variant type: SNP or INDEL">',
        '##FORMAT=<ID=GT,Number=1,Type=String,Description="Phased genotype">',
        "\t".join(["#CHROM", "POS", "ID", "REF", "ALT", "QUAL", "FILTER", "INFO", "FORMAT"])
        + "\t"
        + "\t".join(haps.samples["sample"]),
    ]
    return "\n".join(lines) + "\n"


def _genotype_text(genotypes: np.ndarray) -> np.ndarray:
    """Phased genotype text per variant (``a|b`` tab-separated, newline-ended), as uint8."""
    n_var, n_hap = genotypes.shape
    text = np.empty((n_var, n_hap // 2, 4), dtype=np.uint8)
    text[:, :, 0] = genotypes[:, 0::2] + ord("0")
    text[:, :, 1] = ord("|")
    text[:, :, 2] = genotypes[:, 1::2] + ord("0")
    text[:, :, 3] = ord("\t")
    text[:, -1, 3] = ord("\n")
    return text.reshape(n_var, -1)


def write_vcf(path: Path, haps: Haplotypes, fasta: Path, chunk: int = 20_000) -> list[str]:
    """Write the phased, bgzipped, tabix-indexed VCF, REF taken from ``fasta``.

    Parameters
    ----------
    path : Path
        Destination ``….vcf.gz``; the index is written beside it as ``….vcf.gz.tbi``.
    haps : Haplotypes
        Sorted, non-colliding variants (:func:`drop_collisions`).
    fasta : Path
        The world's genome FASTA (with ``.fai``).
    chunk : int
        Variants formatted at a time. Default is 20,000.

    Returns
    -------
    list of str
        The variant ids, in file order (see :func:`variant_ids`).
    """
    if np.any(np.diff(haps.chrom.astype(np.int64) * (1 << 40) + haps.pos) <= 0):
        raise ValueError("variants must be sorted and unique: call drop_collisions() first")
    ids = variant_ids(len(haps.pos))
    an = haps.genotypes.shape[1]
    with atomic_path(path) as tmp, atomic_path(Path(f"{path}.tbi")) as tmp_index:
        with pysam.FastaFile(str(fasta)) as fa, pysam.BGZFile(str(tmp), "wb", None) as out:
            out.write(_vcf_header(haps, fasta).encode())
            for c, name in enumerate(haps.contigs):
                contig = np.frombuffer(fa.fetch(name).upper().encode(), dtype=np.uint8)
                on_contig = np.flatnonzero(haps.chrom == c)
                for start in range(0, len(on_contig), chunk):
                    idx = on_contig[start : start + chunk]
                    out.write(_vcf_lines(haps, idx, name, contig, fasta, ids, an))
        pysam.tabix_index(str(tmp), preset="vcf", index=str(tmp_index), force=True)
    return ids


def _vcf_lines(
    haps: Haplotypes,
    idx: np.ndarray,
    name: str,
    contig: np.ndarray,
    fasta: Path,
    ids: list[str],
    an: int,
) -> bytes:
    """The VCF records of variants ``idx`` (one contig) as bytes."""
    refs, alts = _alleles(haps, contig, idx, fasta)
    ac = haps.genotypes[idx].sum(axis=1, dtype=np.int64)
    gts = _genotype_text(haps.genotypes[idx])
    lines = []
    for j, i in enumerate(idx):
        vt = "SNP" if haps.kind[i] == SNV else "INDEL"
        info = f"AC={ac[j]};AN={an};AF={ac[j] / an:.6g};VT={vt}"
        prefix = f"{name}\t{haps.pos[i] + 1}\t{ids[i]}\t{refs[j]}\t{alts[j]}\t.\tPASS\t{info}\tGT\t"
        lines.append(prefix.encode() + gts[j].tobytes())
    return b"".join(lines)
