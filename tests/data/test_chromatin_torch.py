"""ChromatinDataset: item keys, shapes and dtypes, the collated batch dict, the stacked fast
path, row selection and bad inputs."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from torch.utils.data import DataLoader, Dataset

from exprflow.data.chromatin_dataset import ChromatinFeatures
from exprflow.data.chromatin_torch import ChromatinDataset, gene_indices, stack_dataset
from exprflow.errors import InputError

RESOLUTIONS = (2000, 500, 100)


def _features(n_genes: int = 5, marks: int = 2, seed: int = 0) -> ChromatinFeatures:
    rng = np.random.default_rng(seed)
    return ChromatinFeatures(
        eid="E003",
        gene_id=np.array([f"G{i}" for i in range(n_genes)]),
        marks=("H3K4me3", "H3K27ac")[:marks],
        promoter={
            r: rng.random((n_genes, 40_000 // r, marks), dtype=np.float32) for r in RESOLUTIONS
        },
        pcre={
            r: rng.random((n_genes, 8, 40_000 // r, marks), dtype=np.float32) for r in RESOLUTIONS
        },
        pcre_length=rng.integers(0, 5000, (n_genes, 8)).astype(np.int32),
        pcre_score=rng.random((n_genes, 8), dtype=np.float32),
    )


def test_item_has_every_key_with_its_shape_and_dtype() -> None:
    features = _features()
    targets = np.linspace(0.0, 4.0, 5)
    item = ChromatinDataset(features, targets, np.array([3, 1]))[0]
    assert sorted(item) == sorted(
        [f"promoter_{r}" for r in RESOLUTIONS]
        + [f"pcre_{r}" for r in RESOLUTIONS]
        + ["pcre_length", "pcre_score", "promoter_cnn", "target"]
    )
    assert item["promoter_2000"].shape == (20, 2) and item["promoter_100"].shape == (400, 2)
    assert item["pcre_500"].shape == (8, 80, 2) and item["pcre_500"].dtype == torch.float32
    assert item["pcre_length"].dtype == torch.int64
    assert item["pcre_score"].dtype == torch.float32
    assert torch.equal(item["promoter_cnn"], torch.from_numpy(features.promoter[100][3, 170:230]))
    assert item["target"].dtype == torch.float32 and float(item["target"]) == 3.0
    assert torch.equal(item["pcre_length"], torch.from_numpy(features.pcre_length[3]).long())


def test_default_collate_gives_the_batch_dict() -> None:
    dataset = ChromatinDataset(_features(), np.array([0, 1, 1, 0, 1]))
    batch = next(iter(DataLoader(dataset, batch_size=4)))
    assert batch["promoter_500"].shape == (4, 80, 2)
    assert batch["pcre_100"].shape == (4, 8, 400, 2)
    assert batch["pcre_length"].shape == (4, 8) and batch["pcre_score"].shape == (4, 8)
    assert batch["promoter_cnn"].shape == (4, 60, 2)
    assert batch["target"].dtype == torch.int64 and batch["target"].tolist() == [0, 1, 1, 0]
    assert dataset.task == "classification"


def test_tensors_equal_the_collated_items_in_index_order() -> None:
    features = _features(n_genes=6)
    dataset = ChromatinDataset(features, np.arange(6.0), np.array([4, 0, 2]))
    assert len(dataset) == 3 and dataset.gene_id.tolist() == ["G4", "G0", "G2"]
    stacked = dataset.tensors()
    collated = next(iter(DataLoader(dataset, batch_size=3)))
    assert sorted(stacked) == sorted(collated)
    for key, value in stacked.items():
        assert torch.equal(value, collated[key]), key
    assert dataset.tensors(["promoter_cnn"]).keys() == {"promoter_cnn", "target"}
    assert dataset.tensors()["target"] is stacked["target"]  # cached


def test_keys_restrict_what_items_carry() -> None:
    dataset = ChromatinDataset(_features(), np.zeros(5), keys=["promoter_cnn"])
    assert sorted(dataset[-1]) == ["promoter_cnn", "target"]
    with pytest.raises(ValueError, match=r"unknown keys \['pcre_100'\]"):
        dataset.tensors(["pcre_100"])
    with pytest.raises(ValueError, match=r"unknown keys \['promoter_50'\]"):
        ChromatinDataset(_features(), np.zeros(5), keys=["promoter_50"])


def test_gene_indices_map_ids_and_name_the_missing() -> None:
    features = _features()
    assert gene_indices(features, ["G3", "G0"]).tolist() == [3, 0]
    with pytest.raises(InputError, match=r"1 genes are not in the features, e.g. \['G9'\]"):
        gene_indices(features, ["G1", "G9"])


def test_stack_dataset_collates_any_dict_dataset() -> None:
    class Items(Dataset[dict[str, torch.Tensor]]):
        def __len__(self) -> int:
            return 3

        def __getitem__(self, i: int) -> dict[str, torch.Tensor]:
            return {"x": torch.full((2,), float(i)), "y": torch.zeros(1), "target": torch.tensor(i)}

    stacked = stack_dataset(Items(), keys=["x"])
    assert sorted(stacked) == ["target", "x"] and stacked["x"][:, 0].tolist() == [0, 1, 2]
    assert sorted(stack_dataset(Items())) == ["target", "x", "y"]
    with pytest.raises(ValueError, match="the dataset is empty"):
        stack_dataset(ChromatinDataset(_features(), np.zeros(5), np.array([], dtype=int)))


def test_stack_dataset_keeps_only_keys_a_chromatin_dataset_has() -> None:
    dataset = ChromatinDataset(_features(), np.zeros(5), keys=["promoter_cnn"])
    assert sorted(stack_dataset(dataset, ["promoter_cnn", "pcre_100"])) == [
        "promoter_cnn",
        "target",
    ]


@pytest.mark.parametrize(
    ("targets", "indices", "message"),
    [
        (np.zeros(4), None, r"targets must have shape \(5,\), got \(4,\)"),
        (np.array([0, 1, 2, 0, 1]), None, "must be 0 or 1, got values \\[0, 1, 2\\]"),
        (np.array([0.0, np.nan, 1, 2, 3]), None, "1 non-finite values"),
        (np.array(list("abcde")), None, "targets must be numeric"),
        (np.zeros(5), np.array([0, 5]), r"indices must lie in \[0, 5\), got 0..5"),
        (np.zeros(5), np.array([0.0, 1.0]), "integer row positions"),
    ],
)
def test_bad_targets_and_indices_are_named(
    targets: np.ndarray, indices: np.ndarray | None, message: str
) -> None:
    with pytest.raises(ValueError, match=message):
        ChromatinDataset(_features(), targets, indices)


def test_feature_rows_must_match_the_genes() -> None:
    features = _features()
    bad = ChromatinFeatures(
        features.eid,
        features.gene_id,
        features.marks,
        features.promoter,
        features.pcre,
        features.pcre_length[:4],
        features.pcre_score,
    )
    with pytest.raises(ValueError, match="pcre_length has shape \\(4, 8\\), expected 5 rows"):
        ChromatinDataset(bad, np.zeros(5))


def test_index_out_of_range() -> None:
    dataset = ChromatinDataset(_features(), np.zeros(5), np.array([1, 2]))
    with pytest.raises(IndexError, match="index 2 out of range for 2 genes"):
        dataset[2]
