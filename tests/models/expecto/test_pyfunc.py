from __future__ import annotations

import json
import pickle
from collections.abc import Iterator
from pathlib import Path

import mlflow
import numpy as np
import pandas as pd
import pytest
from mlflow.exceptions import MlflowException
from mlflow.models import validate_serving_input

from exprflow.errors import InputError
from exprflow.genome.annotation import read_genes
from exprflow.genome.fasta import Genome
from exprflow.models.beluga.config import BelugaConfig
from exprflow.models.beluga.load import load_checkpoint, save_checkpoint
from exprflow.models.beluga.model import Beluga
from exprflow.models.expecto.plugins import expecto_plugins
from exprflow.models.expecto.pyfunc import (
    MAX_ROWS,
    SEQUENCE_LENGTH,
    ExpectoModel,
    log_expecto_model,
    tss_sequence,
)
from exprflow.scoring.engine import score_genes
from exprflow.scoring.merge import predictions_table
from exprflow.scoring.windows import gene_span
from exprflow.simulate.world import load_manifest

TISSUES = ["E116", "E123", "E118"]
EXAMPLE = Path(__file__).resolve().parents[3] / "registry" / "examples" / "expecto.json"


@pytest.fixture
def genome(tiny_world: Path) -> Iterator[Genome]:
    with Genome(load_manifest(tiny_world).path("fasta")) as genome:
        yield genome


@pytest.fixture
def genes(tiny_world: Path) -> pd.DataFrame:
    return read_genes(load_manifest(tiny_world).path("gene_list"))


def _inputs(genes: pd.DataFrame, genome: Genome) -> pd.DataFrame:
    return pd.DataFrame(
        {
            "sequence": [
                tss_sequence(genome, row.chrom, row.tss, row.strand, gene_id=row.gene_id)
                for row in genes.itertuples()
            ],
            "strand": genes["strand"].tolist(),
        },
        index=genes["gene_id"].tolist(),
    )


def _chosen(genes: pd.DataFrame) -> pd.DataFrame:
    """The first + strand gene and the first - strand gene."""
    return pd.concat([genes[genes["strand"] == strand].head(1) for strand in "+-"])


def test_span_puts_the_tss_where_the_windows_expect_it(genes: pd.DataFrame, genome: Genome) -> None:
    assert gene_span("+") == (20999, 20801) and gene_span("-") == (20799, 21001)
    assert SEQUENCE_LENGTH == 41800
    for row in _chosen(genes).itertuples():
        left, right = gene_span(row.strand)
        sequence = tss_sequence(genome, row.chrom, row.tss, row.strand)
        assert sequence == genome.fetch(row.chrom, row.tss - left, row.tss + right)
        assert sequence[left] == genome.fetch(row.chrom, row.tss, row.tss + 1)


# validate_serving_input is deprecated in MLflow 3.13 but is the in-process check asked for.
@pytest.mark.filterwarnings("ignore:.*validate_serving_input.*:FutureWarning")
def test_logged_model_predicts_what_score_genes_predicts(
    tracking: str, tiny_expecto, genes: pd.DataFrame, genome: Genome, tmp_path: Path
) -> None:
    chosen = _chosen(genes)
    plugins = expecto_plugins(tiny_expecto.checkpoint, tiny_expecto.modellist, device="cpu")
    score_genes(
        genes, genome, None, [], *plugins, tmp_path / "scores",
        gene_ids=chosen["gene_id"].tolist(), progress=False,
    )  # fmt: skip
    table = predictions_table(tmp_path / "scores")
    expected = table[table["sample"] == "ref"].set_index("gene_id").loc[chosen["gene_id"], TISSUES]
    frame = _inputs(chosen, genome)

    mlflow.set_experiment("pyfunc")  # not the experiment an earlier test left active
    with mlflow.start_run():
        info = log_expecto_model(
            tiny_expecto.checkpoint, tiny_expecto.tissue_models, input_example=frame.iloc[-1:]
        )
    schema = info.signature.inputs
    assert schema.input_names() == ["sequence", "strand"]
    assert [t.name for t in schema.input_types()] == ["string", "string"]
    assert info.signature.outputs.input_names() == TISSUES
    assert info.metadata is not None and info.metadata["sequence_length"] == SEQUENCE_LENGTH

    loaded = mlflow.pyfunc.load_model(info.model_uri)
    got = loaded.predict(frame)
    assert list(got.columns) == TISSUES and list(got.index) == list(frame.index)
    np.testing.assert_allclose(got.to_numpy(), expected.to_numpy(), rtol=1e-5, atol=1e-5)

    # The stored input example (the last, - strand gene) is a valid serving request.
    local = Path(mlflow.artifacts.download_artifacts(info.model_uri))
    serving = (local / "serving_input_example.json").read_text()
    served = validate_serving_input(info.model_uri, serving)
    np.testing.assert_allclose(
        pd.DataFrame(served)[TISSUES].to_numpy()[0], expected.to_numpy()[-1], rtol=1e-5, atol=1e-5
    )

    # Through pyfunc, a bad row still fails with the model's own error, which the
    # scoring server answers with HTTP 400 and the same message.
    bad = frame.assign(sequence=[*frame["sequence"][:-1], frame["sequence"].iloc[-1][:-1]])
    with pytest.raises(InputError, match=r"row 1 .*41799 bases, expected 41800") as raised:
        loaded.predict(bad)
    assert isinstance(raised.value, MlflowException)
    assert raised.value.get_http_status_code() == 400

    # The row cap is the model configuration's, and loading can change it.
    assert loaded.model_config == {"max_rows": MAX_ROWS}
    capped = mlflow.pyfunc.load_model(info.model_uri, model_config={"max_rows": 1})
    with pytest.raises(InputError, match="has 2 rows, more than the limit of 1 rows"):
        capped.predict(frame)

    # A checkpoint that does not fit the tissue models is refused before anything is logged.
    data = load_checkpoint(tiny_expecto.checkpoint).data_params
    other = Beluga(BelugaConfig.tiny(5)).eval()
    data = {**data, "feature_names": [f"f{i}" for i in range(5)]}
    wrong = save_checkpoint(tmp_path / "wrong.pt", other, other.config, {}, data)
    with mlflow.start_run() as run, pytest.raises(InputError, match="take 120 features"):
        log_expecto_model(wrong, tiny_expecto.tissue_models)
    assert len(mlflow.search_logged_models(experiment_ids=[run.info.experiment_id])) == 1


@pytest.fixture
def model(tiny_expecto) -> ExpectoModel:
    return ExpectoModel(device="cpu").load(tiny_expecto.checkpoint, tiny_expecto.tissue_models)


def test_case_and_batching_do_not_change_predictions(
    model: ExpectoModel, genes: pd.DataFrame, genome: Genome
) -> None:
    frame = _inputs(_chosen(genes), genome)
    lower = frame.iloc[:1].assign(sequence=frame["sequence"].iloc[0].lower())
    whole = model.predict(None, pd.concat([frame, lower]))  # the lower-case row adds no window
    np.testing.assert_array_equal(whole.iloc[0], whole.iloc[2])
    one_by_one = ExpectoModel(genes_per_batch=1, batch_size=37, device="cpu")
    one_by_one._plugins = model._plugins
    got = one_by_one.predict(None, frame)
    np.testing.assert_allclose(got, whole.iloc[:2], rtol=1e-5, atol=1e-6)
    empty = model.predict(None, frame.iloc[:0])
    assert empty.shape == (0, 3) and list(empty.columns) == TISSUES


@pytest.mark.parametrize(
    ("change", "message"),
    [
        ({"strand": "x"}, r"row 1 \(index 'g1'\).*strand is 'x', expected '\+' or '-'"),
        ({"sequence": "ACGT"}, r"row 1 .*has 4 bases, expected 41800 \(20799 before the TSS"),
        ({"sequence": "N" * 100 + "X" + "N" * 41699}, r"row 1 .*'X' at index 100"),
        ({"sequence": None}, r"row 1 .*sequence is NoneType None, expected a string"),
    ],
)
def test_bad_rows_are_named(model: ExpectoModel, change: dict[str, object], message: str) -> None:
    frame = pd.DataFrame({"sequence": ["N" * SEQUENCE_LENGTH] * 2, "strand": ["+", "-"]})
    frame.index = ["g0", "g1"]
    for column, value in change.items():
        frame[column] = frame[column].astype(object)
        frame.loc["g1", column] = value
    with pytest.raises(InputError, match=message):
        model.predict(None, frame)


def test_rows_are_capped(model: ExpectoModel) -> None:
    frame = pd.DataFrame({"sequence": ["N" * SEQUENCE_LENGTH] * 3, "strand": ["+"] * 3})
    assert model.max_rows == MAX_ROWS == 256
    model.max_rows = 2
    with pytest.raises(InputError, match=r"has 3 rows, more than the limit of 2 rows per request"):
        model.predict(None, frame)
    model.max_rows = None
    assert model.predict(None, frame).shape == (3, 3)
    with pytest.raises(InputError, match=r"max_rows is 0, expected a positive integer or null"):
        ExpectoModel(max_rows=0)


def test_models_pickled_before_the_cap_get_the_default() -> None:
    old = ExpectoModel(batch_size=8)
    del old.max_rows
    assert pickle.loads(pickle.dumps(old)).max_rows == MAX_ROWS
    assert pickle.loads(pickle.dumps(ExpectoModel(max_rows=3))).max_rows == 3


def test_registry_example_is_tiny_world_genes(genes: pd.DataFrame, genome: Genome) -> None:
    assert EXAMPLE.stat().st_size < 100_000
    split = json.loads(EXAMPLE.read_text())["dataframe_split"]
    assert split["columns"] == ["sequence", "strand"]
    frame = pd.DataFrame(split["data"], columns=split["columns"], index=split["index"])
    expected = _inputs(genes.set_index("gene_id", drop=False).loc[frame.index], genome)
    pd.testing.assert_frame_equal(frame, expected)
    assert set(frame["strand"]) == {"+", "-"}


def test_missing_column_and_wrong_type_are_refused(model: ExpectoModel) -> None:
    with pytest.raises(InputError, match=r"lacks column\(s\) \['strand'\]"):
        model.predict(None, pd.DataFrame({"sequence": ["N" * SEQUENCE_LENGTH]}))
    with pytest.raises(InputError, match="is a list, expected a pandas DataFrame"):
        model.predict(None, ["N" * SEQUENCE_LENGTH])


def test_tss_near_a_contig_end_is_refused_or_padded(genome: Genome) -> None:
    chrom = next(iter(genome.contigs))
    with pytest.raises(InputError, match="too close to an end"):
        tss_sequence(genome, chrom, 100, "+", gene_id="G1")
    padded = tss_sequence(genome, chrom, 100, "+", allow_padding=True)
    assert len(padded) == SEQUENCE_LENGTH and padded.startswith("N" * (20999 - 100))
