"""The promoter pyfunc: sequences in, the model's per-cell outputs out; 400s for bad requests."""

from __future__ import annotations

from pathlib import Path

import mlflow
import numpy as np
import pandas as pd
import pytest
import torch

from exprflow.data.promoter_codes import codes_to_onehot, encode_codes
from exprflow.data.promoter_tasks import TaskSpec
from exprflow.genome.pwm import PWM
from exprflow.models.promoter import PromoterModelConfig, build_promoter_model, save_promoter_model
from exprflow.models.promoter.motif_counts import MotifScanner
from exprflow.models.promoter_pyfunc import (
    REGISTERED_NAME,
    SERVING_ARTIFACT,
    PromoterPyfuncModel,
    log_promoter_model,
    write_serving_folder,
)
from exprflow.serving.validation import RequestError

CELLS = ("JURKAT", "K562", "THP1")
FLUORESCENCE = TaskSpec("FluorescenceData", "regression", CELLS, 3)
CLASSIFICATION = TaskSpec("FluorescenceData_classification", "binary", CELLS, 3)
SURE = TaskSpec("SuRE_classification", "multiclass", ("K562", "HepG2"), 40, n_heads=4, n_classes=5)
LENGTH = 250


def _pwm(name: str, consensus: str) -> PWM:
    probs = np.full((len(consensus), 4), 0.02)
    for i, base in enumerate(consensus):
        probs[i, "ACGT".index(base)] = 0.94
    return PWM(name, "", probs / probs.sum(1, keepdims=True), nsites=17)


SCANNER = MotifScanner([_pwm("M1", "TGACTCA"), _pwm("M2", "GGGGCGGGG"), _pwm("M3", "CACGTG")])


def _sequences(n: int, seed: int = 0) -> list[str]:
    rng = np.random.default_rng(seed)
    seqs = ["".join(rng.choice(list("ACGT"), LENGTH)) for _ in range(n)]
    seqs[0] = "TGACTCA" * 4 + seqs[0][28:]  # some motif sites to count
    seqs[1] = seqs[1][:100].lower() + "N" + seqs[1][101:]
    return seqs


def _save(tmp_path: Path, backbone: str, task: TaskSpec) -> Path:
    torch.manual_seed(0)
    n_motifs = SCANNER.n_motifs if backbone.startswith("Motif") else 0
    config = PromoterModelConfig(
        backbone, "tiny", LENGTH, n_motifs, {task.name: 3, "RNASeq": 2}, head_style="linear"
    )
    model = build_promoter_model(config).eval()
    return save_promoter_model(model, config, tmp_path / backbone)


def _wrapper(tmp_path: Path, backbone: str, task: TaskSpec, **kwargs: int) -> PromoterPyfuncModel:
    folder = _save(tmp_path, backbone, task)
    scanner = SCANNER if backbone.startswith("Motif") else None
    serving = write_serving_folder(tmp_path / SERVING_ARTIFACT, task, scanner)
    return PromoterPyfuncModel(**kwargs).load(folder, serving)


def test_predictions_are_the_models_head_on_one_hot_sequences(tmp_path: Path) -> None:
    wrapper = _wrapper(tmp_path, "MTLucifer", FLUORESCENCE, batch_size=2)
    seqs = _sequences(5)
    out = wrapper.predict(None, pd.DataFrame({"sequence": seqs, "id": range(5)}))
    assert list(out.columns) == list(CELLS) and len(out) == 5
    assert wrapper.model is not None
    with torch.no_grad():
        onehot = codes_to_onehot(torch.from_numpy(encode_codes(seqs, LENGTH)))
        expected = wrapper.model(onehot, "FluorescenceData").double().numpy()
    np.testing.assert_allclose(out.to_numpy(), expected, rtol=1e-5, atol=1e-6)
    empty = wrapper.predict(None, pd.DataFrame({"sequence": []}))
    assert list(empty.columns) == list(CELLS) and empty.empty


def test_motif_models_count_sites_and_classification_gives_probabilities(tmp_path: Path) -> None:
    wrapper = _wrapper(tmp_path, "MotifBasedFCN", CLASSIFICATION)
    seqs = _sequences(4)
    out = wrapper.predict(None, pd.DataFrame({"sequence": seqs}))
    counts = SCANNER.counts(encode_codes(seqs, LENGTH))
    assert counts[0, 0] >= 4
    assert wrapper.model is not None
    with torch.no_grad():
        logits = wrapper.model(torch.from_numpy(counts), CLASSIFICATION.name)
    np.testing.assert_allclose(out.to_numpy(), torch.sigmoid(logits).numpy(), rtol=1e-5)
    assert ((out > 0) & (out < 1)).all().all()
    meme = (tmp_path / SERVING_ARTIFACT / "motifs.meme").read_text()
    assert "MOTIF M2" in meme


@pytest.mark.parametrize(
    ("frame", "message"),
    [
        (pd.DataFrame({"seq": ["A" * LENGTH]}), r"lacks column\(s\) \['sequence'\]"),
        (pd.DataFrame({"sequence": ["A" * 249]}), "249 bases, expected 250"),
        (pd.DataFrame({"sequence": ["A" * LENGTH, "A" * 99 + "X" + "A" * 150]}), "'X' at index 99"),
        (pd.DataFrame({"sequence": [None]}), "sequence is NoneType"),
        (pd.DataFrame({"sequence": ["A" * LENGTH] * 4}), "4 rows, more than the limit of 3"),
    ],
)
def test_bad_requests_raise_request_errors(
    tmp_path: Path, frame: pd.DataFrame, message: str
) -> None:
    wrapper = _wrapper(tmp_path, "MTLucifer", FLUORESCENCE, max_rows=3)
    with pytest.raises(RequestError, match=message):
        wrapper.predict(None, frame)


def test_logging_refuses_unserved_tasks_and_missing_scanners(tmp_path: Path) -> None:
    folder = _save(tmp_path, "MotifBasedFCN", FLUORESCENCE)
    example = _sequences(2)
    with pytest.raises(ValueError, match="give a MotifScanner"):
        log_promoter_model(folder, task_spec=FLUORESCENCE, input_example=example)
    with pytest.raises(ValueError, match="no 3-logit head for FluorescenceData_classification"):
        log_promoter_model(folder, task_spec=CLASSIFICATION, input_example=example, scanner=SCANNER)
    with pytest.raises(ValueError, match="multiclass"):
        log_promoter_model(folder, task_spec=SURE, input_example=example, scanner=SCANNER)


@pytest.mark.parametrize(
    ("backbone", "task"), [("MTLucifer", FLUORESCENCE), ("MotifBasedFCN", CLASSIFICATION)]
)
def test_logged_model_loads_and_predicts_the_same(
    tmp_path: Path, tracking: str, backbone: str, task: TaskSpec
) -> None:
    folder = _save(tmp_path, backbone, task)
    scanner = SCANNER if backbone.startswith("Motif") else None
    example = pd.DataFrame({"sequence": _sequences(2)})
    with mlflow.start_run():
        info = log_promoter_model(
            folder,
            "promoter",
            task_spec=task,
            input_example=example,
            scanner=scanner,
            registered_name=REGISTERED_NAME,
        )
    assert [c.name for c in info.signature.inputs] == ["sequence"]
    assert [c.name for c in info.signature.outputs] == list(CELLS)
    assert info.metadata["task"] == task.name and info.metadata["exprflow_code_version"]
    loaded = mlflow.pyfunc.load_model(f"models:/{REGISTERED_NAME}/{info.registered_model_version}")
    seqs = pd.DataFrame({"sequence": _sequences(6, seed=1)})
    direct = _wrapper(tmp_path / "direct", backbone, task).predict(None, seqs)
    pd.testing.assert_frame_equal(loaded.predict(seqs), direct)
    with pytest.raises(RequestError, match="expected 250"):
        loaded.predict(pd.DataFrame({"sequence": ["ACGT"]}))
