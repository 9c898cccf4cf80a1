"""Haplotype tokens, the masked datasets, the genotype collate and per-gene batches."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
import torch
from torch.utils.data import DataLoader

from exprflow.data.mlm_haplotypes import (
    GenotypeDataset,
    HaplotypeDataset,
    LengthBatchSampler,
    collate_genotypes,
    collate_haplotypes,
    genotype_codes,
    genotype_string,
    haplotype_batch,
    haplotype_tokens,
    one_hot,
)
from exprflow.training.mlm_masking import MaskSettings

SETTINGS = MaskSettings(frame=5)
GENES = {"ENSG_A": 3, "ENSG_B": 7}


def _table(n_samples: int = 6, lengths: tuple[int, int] = (40, 55), seed: int = 0) -> pd.DataFrame:
    """Rows of two genes (``lengths`` SNPs) for ``n_samples`` individuals, random codes."""
    rng = np.random.default_rng(seed)
    rows = [
        ("train", f"S{s}", gene, "".join(rng.choice(list("RFMBN"), size=length)))
        for gene, length in zip(GENES, lengths, strict=True)
        for s in range(n_samples)
    ]
    return pd.DataFrame(rows, columns=["split", "sample", "gene_id", "seq"])


def test_haplotype_tokens_split_codes_into_father_and_mother() -> None:
    tokens = haplotype_tokens("RFMBN")
    assert tokens.dtype == np.uint8 and tokens.shape == (2, 5)
    assert tokens.tolist() == [[0, 1, 0, 1, 2], [0, 0, 1, 1, 2]]
    assert haplotype_tokens("").shape == (2, 0)


def test_tokens_round_trip_to_genotype_strings() -> None:
    seq = "".join(np.random.default_rng(0).choice(list("RFMBN"), size=500))
    assert genotype_string(haplotype_tokens(seq)) == seq
    codes = genotype_codes(haplotype_tokens("RFMBN"))
    assert codes.tolist() == [0, 1, 2, 3, 4]


def test_genotype_codes_are_n_where_either_haplotype_is_n() -> None:
    pairs = np.array([[[2, 0, 1, 2], [0, 2, 1, 1]], [[1, 1, 0, 0], [1, 0, 1, 0]]])
    assert genotype_codes(pairs).tolist() == [[4, 4, 3, 4], [3, 1, 2, 0]]
    with pytest.raises(ValueError, match=r"\(\.\.\., 2, L\)"):
        genotype_codes(np.zeros((3, 4), int))
    with pytest.raises(ValueError, match=r"0\.\.2"):
        genotype_codes(np.full((2, 3), 3))
    with pytest.raises(ValueError, match=r"\(2, L\)"):
        genotype_string(pairs)


@pytest.mark.parametrize(
    ("seq", "position", "char"),
    [("RFX", 2, "'X'"), ("rFM", 0, "'r'"), ("RF|M", 2, "'|'"), ("RRé", 2, "'é'")],
)
def test_malformed_genotype_strings_name_position_and_character(
    seq: str, position: int, char: str
) -> None:
    with pytest.raises(ValueError, match=f"character {char} at position {position} .*RFMBN"):
        haplotype_tokens(seq)


def test_haplotype_batch_interleaves_father_and_mother() -> None:
    tokens = haplotype_batch(["RF", "MB", "NR"])
    assert tokens.shape == (6, 2)
    assert tokens.tolist() == [[0, 1], [0, 0], [0, 1], [1, 1], [2, 0], [2, 0]]
    assert haplotype_batch([]).shape == (0, 0)
    with pytest.raises(ValueError, match="differ in length"):
        haplotype_batch(["RF", "RFM"])
    with pytest.raises(ValueError, match=r"string 1: .*'Z' at position 0"):
        haplotype_batch(["RF", "ZF"])


def test_one_hot_is_reexported_for_haplotype_rows() -> None:
    assert one_hot(haplotype_tokens("RFMBN")).shape == (2, 3, 5)


def test_haplotype_dataset_items_are_masked_haplotypes() -> None:
    table = _table()
    data = HaplotypeDataset(table, GENES, SETTINGS, seed=1)
    assert len(data) == 12
    for index in range(len(data)):
        item = data[index]
        length = len(table.seq[index])
        truth = haplotype_tokens(table.seq[index])[item["haplotype"]]
        x, labels = item["x"].numpy(), item["labels"].numpy()
        assert x.shape == (3, length) and x.dtype == np.float32 and labels.dtype == np.int64
        target = labels != -100
        assert target.sum() == round(0.2 * (length - 10))
        assert not target[:5].any() and not target[-5:].any()
        assert (labels[target] == truth[target]).all()
        assert (x[:, ~target] == one_hot(truth[~target])).all()
        assert (
            item["gene"].dtype == torch.int64 and int(item["gene"]) == GENES[table.gene_id[index]]
        )
        assert item["row"] == index
    assert {data[i]["haplotype"] for i in range(len(data))} == {0, 1}


def test_haplotype_dataset_is_reproducible_and_changes_with_the_epoch() -> None:
    data = HaplotypeDataset(_table(), GENES, SETTINGS, seed=1)
    again = HaplotypeDataset(_table(), GENES, SETTINGS, seed=1)
    assert torch.equal(data[3]["labels"], again[3]["labels"])
    assert torch.equal(data[3]["x"], again[3]["x"])
    first = torch.stack([data[i]["labels"] for i in range(6)])
    data.set_epoch(1)
    assert not torch.equal(first, torch.stack([data[i]["labels"] for i in range(6)]))


def test_haplotype_dataset_crops_and_supports_agnostic_genes() -> None:
    data = HaplotypeDataset(_table(), {}, SETTINGS, seed=0, seq_len=30, agnostic=True)
    item = data[8]
    assert item["x"].shape == (3, 30) and int(item["gene"]) == 0


def test_haplotype_dataset_stratifies_by_maf_of_the_cropped_snps() -> None:
    maf = {"ENSG_A": np.repeat([0.05, 0.35], 20), "ENSG_B": np.full(55, 0.2)}
    settings = MaskSettings(frame=0, maf_stratified=True, mask_rate=0.5)
    data = HaplotypeDataset(_table(), GENES, settings, seed=0, seq_len=30, maf=maf)
    target = data[0]["labels"].numpy() != -100
    assert target[:20].sum() == 10 and target[20:].sum() == 5


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"gene_index": {"ENSG_A": 0}}, r"genes \['ENSG_B'\] are not in gene_index"),
        ({"settings": MaskSettings(maf_stratified=True)}, "needs maf"),
        ({"seq_len": 0}, "seq_len"),
    ],
)
def test_datasets_reject_bad_arguments(kwargs: dict[str, object], message: str) -> None:
    args: dict[str, object] = {"gene_index": GENES, "settings": SETTINGS, "seed": 0}
    with pytest.raises(ValueError, match=message):
        HaplotypeDataset(_table(), **{**args, **kwargs})  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="lacks columns"):
        GenotypeDataset(_table().drop(columns="seq"), GENES, SETTINGS, seed=0)


def test_malformed_row_names_row_sample_and_gene() -> None:
    table = _table()
    table.loc[2, "seq"] = "RR0" + table.seq[2][3:]
    data = HaplotypeDataset(table, GENES, SETTINGS, seed=0)
    with pytest.raises(ValueError, match=r"row 2 \(S2, ENSG_A\): .*'0' at position 2"):
        data[2]


def test_genotype_collate_keeps_pairs_adjacent_with_the_same_targets() -> None:
    table = _table()
    data = GenotypeDataset(table, GENES, SETTINGS, seed=2)
    rows = [6, 9, 7]
    batch = collate_genotypes([data[r] for r in rows])
    length = len(table.seq[6])
    assert batch["x"].shape == (6, 3, length) and batch["labels"].shape == (6, length)
    assert batch["gene"].tolist() == [7] * 6
    assert batch["pair"].tolist() == [0, 0, 1, 1, 2, 2] and batch["row"].tolist() == rows
    labels = batch["labels"].numpy()
    for i, row in enumerate(rows):
        truth = haplotype_tokens(table.seq[row])  # father, mother
        target = labels[2 * i] != -100
        assert (target == (labels[2 * i + 1] != -100)).all() and target.any()
        for h in (0, 1):
            assert (labels[2 * i + h][target] == truth[h][target]).all()
            x = batch["x"][2 * i + h].numpy()
            assert (x[:, ~target] == one_hot(truth[h][~target])).all()


def test_collates_refuse_items_of_different_genes() -> None:
    table = _table()
    genotypes = GenotypeDataset(table, GENES, SETTINGS, seed=0)
    haplotypes = HaplotypeDataset(table, GENES, SETTINGS, seed=0)
    with pytest.raises(ValueError, match=r"different SNP counts \[40, 55\].*LengthBatchSampler"):
        collate_genotypes([genotypes[0], genotypes[6]])
    with pytest.raises(ValueError, match="different SNP counts"):
        collate_haplotypes([haplotypes[0], haplotypes[6]])
    with pytest.raises(ValueError, match="empty"):
        collate_genotypes([])
    batch = collate_haplotypes([haplotypes[0], haplotypes[1]])
    assert batch["x"].shape == (2, 3, 40) and batch["gene"].tolist() == [3, 3]


def test_length_batch_sampler_covers_every_row_once_with_one_length_per_batch() -> None:
    table = _table(n_samples=7)
    sampler = LengthBatchSampler(table, batch_size=3, shuffle=True, seed=5)
    batches = list(sampler)
    assert len(batches) == len(sampler) == 6  # 7 rows per gene → 3 + 3 + 1, twice
    assert sorted(r for b in batches for r in b) == list(range(14))
    assert all(table.seq[b].str.len().nunique() == 1 and len(b) <= 3 for b in batches)
    assert batches == list(LengthBatchSampler(table, 3, shuffle=True, seed=5))
    sampler.set_epoch(1)
    assert list(sampler) != batches
    ordered = list(LengthBatchSampler(table, 3, shuffle=False))
    assert ordered[0] == [0, 1, 2] and ordered[-1] == [13]
    with pytest.raises(ValueError, match="batch_size"):
        LengthBatchSampler(table, 0)


def test_length_batch_sampler_mixes_genes_of_one_length() -> None:
    table = _table(n_samples=4)
    same = table.assign(seq=table.seq.str[:40])
    batches = list(LengthBatchSampler(same, batch_size=8, shuffle=True, seed=0))
    assert [len(b) for b in batches] == [8]
    assert same.gene_id[batches[0]].nunique() == 2


def test_data_loader_batches_per_length() -> None:
    table = _table()
    data = HaplotypeDataset(table, GENES, SETTINGS, seed=0)
    loader = DataLoader(
        data, batch_sampler=LengthBatchSampler(table, 4), collate_fn=collate_haplotypes
    )
    shapes = sorted(tuple(b["x"].shape) for b in loader)
    assert shapes == [(2, 3, 40), (2, 3, 55), (4, 3, 40), (4, 3, 55)]
    genotypes = GenotypeDataset(table, GENES, SETTINGS, seed=0)
    loader = DataLoader(
        genotypes, batch_sampler=LengthBatchSampler(table, 4), collate_fn=collate_genotypes
    )
    assert sorted(len(b["x"]) for b in loader) == [4, 4, 8, 8]
