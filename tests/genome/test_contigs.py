from __future__ import annotations

import pytest

from exprflow.errors import InputError
from exprflow.genome.contigs import chrom_key, contig_aliases, resolve_contig


def test_aliases_put_the_request_first() -> None:
    assert contig_aliases("chr1") == ["chr1", "1"]
    assert contig_aliases("X") == ["X", "chrX"]
    assert contig_aliases("MT") == ["MT", "chrM", "chrMT", "M"]


def test_resolve_finds_the_other_spelling() -> None:
    assert resolve_contig("1", {"chr1", "chr2"}, "genome.fa") == "chr1"
    assert resolve_contig("chrM", {"MT"}, "genome.fa") == "MT"
    assert resolve_contig("chr2", {"2", "chr2"}, "genome.fa") == "chr2"


def test_unknown_contig_names_the_file_and_lists_contigs() -> None:
    with pytest.raises(InputError, match=r"genome\.fa.*'chr9'.*chr1, chr2"):
        resolve_contig("chr9", {"chr1", "chr2"}, "genome.fa")


def test_chrom_key_ignores_the_chr_prefix() -> None:
    assert chrom_key("chr4") == chrom_key("Chr4") == chrom_key("4") == chrom_key(4) == "4"
