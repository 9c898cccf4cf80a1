from __future__ import annotations

import re

import numpy as np
import pytest

from exprflow.errors import InputError
from exprflow.genome.genotypes import Dosages, Genotypes, parse_alleles
from exprflow.genome.variant import Variant

SNV = Variant("chr1", 4, "A", "G", "rs1")
SAMPLES = ["a", "b", "c", "d"]


def parse(gts: list[str], **policy: object) -> list[list[int]]:
    return parse_alleles("x.vcf.gz", SNV, gts, SAMPLES[: len(gts)], **policy).tolist()  # type: ignore[arg-type]


def test_phased_haploid_and_unphased_homozygous() -> None:
    assert parse(["0|1", "1|0", "1", "1/1"]) == [[0, 1], [1, 0], [1, 1], [1, 1]]
    assert parse(["0", "0/0", "1|1"]) == [[0, 0], [0, 0], [1, 1]]


def test_missing_policy() -> None:
    with pytest.raises(InputError, match=r"x\.vcf\.gz: chr1:5 rs1: sample b has a missing"):
        parse(["0|1", ".|1"])
    assert parse(["0|1", ".|1", ".", "./."], missing="ref") == [[0, 1], [0, 1], [0, 0], [0, 0]]


def test_unphased_policy() -> None:
    with pytest.raises(InputError, match=r"sample c has an unphased heterozygous"):
        parse(["0|1", "1/1", "1/0"])
    assert parse(["1/0"], unphased="as_written") == [[1, 0]]
    assert parse(["1/0"], need_phase=False) == [[1, 0]]
    with pytest.raises(InputError, match="unphased"):
        parse(["./1"], missing="ref")


@pytest.mark.parametrize("bad", ["0|2", "0|1|1", "A", "", "0||1"])
def test_unreadable_calls(bad: str) -> None:
    with pytest.raises(InputError, match="sample b has GT " + re.escape(repr(bad))):
        parse(["0|0", bad, bad])


def test_genotypes_haplotypes_and_dosages_types() -> None:
    other = Variant("chr1", 9, "A", "AT", "rs2")
    found = Genotypes([SNV, other], ["a", "b"], np.array([[[0, 1], [1, 1]], [[1, 0], [0, 0]]]))
    assert found.haplotypes("a") == ([other], [SNV])
    assert found.haplotypes("b") == ([SNV], [SNV])
    assert Dosages([SNV], ["a"], np.array([[2]])).values.shape == (1, 1)
