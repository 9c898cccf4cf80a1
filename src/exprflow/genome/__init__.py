"""Genomic file formats and sequence handling, read and written in their real layouts.

Modules (import them by full path; nothing is re-exported here):

* :mod:`~exprflow.genome.contigs` — contig-name aliases (``chr1`` / ``1``, ``chrM`` / ``MT``);
* :mod:`~exprflow.genome.fasta` — indexed FASTA with contig aliases and ``N`` padding;
* :mod:`~exprflow.genome.variant` — the :class:`~exprflow.genome.variant.Variant` record
  and its checks (allele validation, record order, REF against the FASTA);
* :mod:`~exprflow.genome.vcf` — sites-only VCF lists and phased genotypes by region;
* :mod:`~exprflow.genome.genotypes` — genotype matrices and the missing/unphased policy;
* :mod:`~exprflow.genome.haplotype` — personal sequences with indels, anchored windows;
* :mod:`~exprflow.genome.bigwig` — binned bigWig signal and an atomic writer;
* :mod:`~exprflow.genome.annotation` — GTF / ExPecto / benchmark gene tables;
* :mod:`~exprflow.genome.intervals` — intervals and BED files (plain or tabix-indexed);
* :mod:`~exprflow.genome.onehot` — one-hot encoding with explicit alphabets.

Coordinates are 0-based half-open everywhere; readers and writers convert at the file
boundary.
"""
