"""Zero-shot transfer: both mapping forms, the SuRE expected bin by hand, correlations, errors."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from scipy import stats

from exprflow.data.promoter_tasks import TaskSpec
from exprflow.errors import InputError
from exprflow.evaluation.promoter_transfer import (
    METRIC_COLUMNS,
    CellMapping,
    TransferTarget,
    task_values,
    transfer_metrics,
    transfer_predictions,
)

OURS = "K562=Sharpr_MPRA:k562_minp_avg,K562=SuRE_classification:K562,K562=RNASeq:E123"
SHARPR_OUTPUTS = ("k562_minp_rep1", "k562_minp_rep2", "k562_minp_avg")
SHARPR = TaskSpec("Sharpr_MPRA", "regression", SHARPR_OUTPUTS, 3)
SURE = TaskSpec("SuRE_classification", "multiclass", ("K562", "HepG2"), 40, n_heads=4, n_classes=5)
RNASEQ = TaskSpec("RNASeq", "regression", ("E116", "E123"), 2)
CHIP = TaskSpec("ENCODETFChIPSeq", "binary", ("K562:GATA1", "HepG2:HNF4A"), 2)
SPECS = {s.name: s for s in (SHARPR, SURE, RNASEQ, CHIP)}


def _outputs(n: int = 6) -> dict[str, np.ndarray]:
    rng = np.random.default_rng(0)
    return {name: rng.normal(size=(n, spec.n_logits)) for name, spec in SPECS.items()}


def test_our_form_parses_names_and_indices_and_round_trips() -> None:
    mapping = CellMapping.parse(OURS)
    assert mapping.targets == (
        TransferTarget("K562", "Sharpr_MPRA", "k562_minp_avg"),
        TransferTarget("K562", "SuRE_classification", "K562"),
        TransferTarget("K562", "RNASeq", "E123"),
    )
    assert str(mapping) == OURS
    assert mapping.tasks == ("Sharpr_MPRA", "SuRE_classification", "RNASeq")
    chip = CellMapping.parse(" JURKAT = RNASeq:1 , K562=ENCODETFChIPSeq:K562:GATA1 ")
    assert chip.targets == (
        TransferTarget("JURKAT", "RNASeq", 1),
        TransferTarget("K562", "ENCODETFChIPSeq", "K562:GATA1"),
    )
    assert CellMapping.parse("").targets == ()


def test_published_form_aligns_triples_to_cells_and_skips_minus_one() -> None:
    mapping = CellMapping.from_output_inds(
        "-1,0,-1 -1,2,-1", ["SuRE_classification", "Sharpr_MPRA"]
    )
    assert mapping.targets == (
        TransferTarget("K562", "SuRE_classification", 0),
        TransferTarget("K562", "Sharpr_MPRA", 2),
    )
    rnaseq = CellMapping.from_output_inds("30,34,89", ["RNASeq"])
    pairs = [(t.cell, t.output) for t in rnaseq.targets]
    assert pairs == [("JURKAT", 30), ("K562", 34), ("THP1", 89)]


def test_published_and_our_form_give_the_same_predictions() -> None:
    ours = CellMapping.parse("K562=SuRE_classification:K562,K562=Sharpr_MPRA:k562_minp_avg")
    published = CellMapping.from_output_inds("-1,0,-1 -1,2,-1", [SURE.name, SHARPR.name])
    a = transfer_predictions(_outputs(), SPECS, ours)
    b = transfer_predictions(_outputs(), SPECS, published)
    sharpr = ("K562", "Sharpr_MPRA", "k562_minp_avg")
    assert list(a) == list(b) == [("K562", "SuRE_classification", "K562"), sharpr]
    for key in a:
        np.testing.assert_array_equal(a[key], b[key])
    np.testing.assert_array_equal(a[sharpr], _outputs()["Sharpr_MPRA"][:, 2])


def test_sure_expected_bin_by_hand() -> None:
    # one row; logits laid out (head, cell, class). Head h puts all mass on class h for
    # K562 (one-hot-like logits), uniform for HepG2.
    logits = np.zeros((1, 4, 2, 5))
    for head in range(4):
        logits[0, head, 0, head] = 50.0
    values = task_values(logits.reshape(1, 40), SURE)
    # K562: mean over heads of one-hot at class h → p = (.25, .25, .25, .25, 0) → 1.5
    # HepG2: uniform → Σ k/5 = 2
    np.testing.assert_allclose(values, [[1.5, 2.0]], atol=1e-12)
    # a general row: softmax per head and cell, average, expected bin
    rng = np.random.default_rng(1)
    general = rng.normal(size=(3, 40))
    shaped = general.reshape(3, 4, 2, 5)
    expected = np.zeros((3, 2))
    for row in range(3):
        for cell in range(2):
            p = np.mean([np.exp(z) / np.exp(z).sum() for z in shaped[row, :, cell]], axis=0)
            expected[row, cell] = sum(k * p[k] for k in range(5))
    np.testing.assert_allclose(task_values(general, SURE), expected, rtol=1e-12)


def test_binary_heads_give_probabilities() -> None:
    logits = np.array([[0.0, np.log(3.0)]])
    np.testing.assert_allclose(task_values(logits, CHIP), [[0.5, 0.75]])


def test_metrics_are_the_correlations_per_target() -> None:
    outputs = _outputs(8)
    truth = pd.DataFrame({"K562": np.arange(8.0), "JURKAT": np.arange(8.0)[::-1]})
    truth.loc[3, "K562"] = np.nan
    mapping = CellMapping.parse(OURS + ",JURKAT=RNASeq:E116")
    table = transfer_metrics(transfer_predictions(outputs, SPECS, mapping), truth)
    assert tuple(table.columns) == METRIC_COLUMNS
    assert table["output"].tolist() == ["k562_minp_avg", "K562", "E123", "E116"]
    assert table["n"].tolist() == [7, 7, 7, 8]
    keep = np.arange(8) != 3
    rna = outputs["RNASeq"][:, 1]
    pearson = stats.pearsonr(rna[keep], np.arange(8.0)[keep]).statistic
    assert table.loc[2, "pearson"] == pytest.approx(pearson)
    assert table.loc[3, "spearman"] == pytest.approx(
        stats.spearmanr(outputs["RNASeq"][:, 0], np.arange(8.0)[::-1]).statistic
    )


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("K562:Sharpr_MPRA", "is not cell=task:output"),
        ("K562=Sharpr_MPRA", "is not cell=task:output"),
        ("HeLa=RNASeq:E123", r"unknown cell 'HeLa', expected one of \['JURKAT', 'K562', 'THP1'\]"),
        ("K562=RNASeq:E123,K562=RNASeq:E123", "is given twice"),
    ],
)
def test_bad_mapping_strings_name_the_entry(text: str, message: str) -> None:
    with pytest.raises(InputError, match=message):
        CellMapping.parse(text)


@pytest.mark.parametrize(
    ("text", "tasks", "message"),
    [
        ("-1,0,-1", ["SuRE_classification", "Sharpr_MPRA"], "has 1 entries, expected one per head"),
        ("-1,0 -1,2,-1", ["SuRE_classification", "Sharpr_MPRA"], r"entry 1 \('-1,0'"),
        ("-1,x,-1", ["RNASeq"], "expected 3 integers"),
        ("-2,0,-1", ["RNASeq"], "expected 3 integers"),
    ],
)
def test_bad_published_strings_name_the_entry(text: str, tasks: list[str], message: str) -> None:
    with pytest.raises(InputError, match=message):
        CellMapping.from_output_inds(text, tasks)


@pytest.mark.parametrize(
    ("text", "message"),
    [
        (
            "K562=Sharpr_MPRA:k562_avg",
            r"Sharpr_MPRA:k562_avg'.*no output 'k562_avg'; its outputs are \['k562_minp_rep1'",
        ),
        (
            "K562=Sharpr_MPRA:3",
            r"output index 3 is out of range: Sharpr_MPRA has 3 outputs \(0..2\)",
        ),
        (
            "K562=Lentiviral:0",
            r"task 'Lentiviral' has no spec; the tasks are \['ENCODETFChIPSeq'",
        ),
    ],
)
def test_unknown_outputs_and_tasks_name_what_is_available(text: str, message: str) -> None:
    with pytest.raises(InputError, match=message):
        transfer_predictions(_outputs(), SPECS, CellMapping.parse(text))


def test_wrong_shapes_and_missing_cells_are_refused() -> None:
    outputs = _outputs() | {"RNASeq": np.zeros((6, 3))}
    with pytest.raises(InputError, match=r"have shape \(6, 3\), expected \(N, 2\)"):
        transfer_predictions(outputs, SPECS, CellMapping.parse("K562=RNASeq:E123"))
    outputs = _outputs() | {"RNASeq": np.zeros((5, 2))}
    mapping = CellMapping.parse("K562=RNASeq:E123,K562=Sharpr_MPRA:2")
    with pytest.raises(InputError, match="disagree on the number of promoters"):
        transfer_predictions(outputs, SPECS, mapping)
    predictions = transfer_predictions(_outputs(), SPECS, CellMapping.parse("THP1=RNASeq:0"))
    with pytest.raises(InputError, match="has no column 'THP1'"):
        transfer_metrics(predictions, pd.DataFrame({"K562": np.zeros(6)}))
    with pytest.raises(InputError, match=r"have shape \(6,\), the truth has 4 rows"):
        transfer_metrics(predictions, pd.DataFrame({"THP1": np.zeros(4)}))
