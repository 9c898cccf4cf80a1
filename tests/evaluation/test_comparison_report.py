from __future__ import annotations

import json
from pathlib import Path

import pytest
from tests.evaluation.test_compare import MODEL, RUNS

from exprflow.errors import InputError
from exprflow.evaluation.compare import compare
from exprflow.evaluation.comparison_report import read_planted, run_link, write_comparison_report
from exprflow.evaluation.gather import Scope

TRUTH = {
    "size": {"name": "tiny"},
    "seed": 3,
    "lcl_cell_type": "E116",
    "cell_types": [{"eid": "E116"}, {"eid": "E123"}],
    "gene_baseline_log2_rpkm": {"G1": 1.0, "G2": 2.0, "G3": 0.5},
    "causal_variants": [
        {"gene_id": "G1", "region": "promoter", "change": "created"},
        {"gene_id": "G1", "region": "enhancer", "change": "disrupted"},
        {"gene_id": "G2", "region": "promoter", "change": "disrupted"},
    ],
    "motif_sites": [{}, {}, {}, {}],
    "enhancers": [{}],
    "components": {"population": {"n_individuals": 40}},
}
SCOPE = Scope("parent", "p" * 32, "1", "the parent of this run")


def test_read_planted_counts(tmp_path: Path) -> None:
    path = tmp_path / "truth.json"
    path.write_text(json.dumps(TRUTH))
    assert read_planted(path) == {
        "world": "tiny (seed 3)",
        "LCL cell type": "E116",
        "cell types": 2,
        "individuals": 40,
        "genes": 3,
        "causal variants": 3,
        "causal genes": 2,
        "causal variants by region": "1 enhancer, 2 promoter",
        "causal variants by change": "1 created, 2 disrupted",
        "motif sites": 4,
        "enhancers": 1,
    }


@pytest.mark.parametrize(
    ("text", "match"),
    [
        ("{not json", "cannot read the truth document"),
        ("[]", "has no list 'causal_variants'"),
        ('{"causal_variants": [{"region": "promoter"}]}', r"causal_variants\[0\].*without gene_id"),
    ],
)
def test_read_planted_refuses_bad_truth(tmp_path: Path, text: str, match: str) -> None:
    path = tmp_path / "truth.json"
    path.write_text(text)
    with pytest.raises(InputError, match=match):
        read_planted(path)


def test_run_link() -> None:
    run = RUNS[1]
    assert run_link(run) == "`c1`"
    assert run_link(run, "http://host:5000/") == "[c1](http://host:5000/#/experiments/1/runs/c1)"


def test_report_shows_every_family_chart_and_problem(tmp_path: Path) -> None:
    comparison = compare(RUNS, [MODEL])
    planted = {"causal variants": 3, "causal genes": 2}
    report = write_comparison_report(tmp_path / "report", comparison, SCOPE, planted=planted)
    text = report.read_text()
    assert text.startswith("# Comparison of the families\n")
    assert f"runs under parent run `{'p' * 32}` (the parent of this run): 9 step runs of 6" in text
    for family in comparison.families:
        assert f"| {family} |" in text, family
    plots = sorted(p.name for p in (tmp_path / "report" / "plots").iterdir())
    assert plots == ["chromatin.png", "expression.png", "mpra.png"]
    for name in plots:
        assert f"](plots/{name})" in text
    # tracks: its only run logged no headline metric, so no chart and no summary
    assert "`test_pearson` (higher is better): no finished run logged it.\n\n| family |" in text
    expression = text[text.index("### `expression`") : text.index("### `chromatin`")]
    assert "`test_spearman` (higher is better): best haplotype_mlm." in expression
    assert (
        "`<family>.expression.*` on this run: expecto from expecto_evaluate, "
        "haplotype_mlm from train_mlm." in expression
    )
    assert "| expecto | train_tissue | READY | expecto v1 | @champion | `t1` | 0.51 | 0.45 |" in (
        expression
    )
    assert "| chromoformer | cv_chromatin | FAILED | - | - | `x1` | n/a |" in expression
    problems = text[text.index("## Runs lacking") : text.index("## Planted-truth")]
    assert "| haplotype_mlm | expression | train_mlm | FINISHED | `m1` | test_pearson |" in problems
    assert "| basenji2 | tracks | train_probe | FINISHED | `b1` | test_pearson |" in problems
    assert "| chromoformer | expression | cv_chromatin | FAILED | `x1` | - |" in problems
    truth = text[text.index("## Planted-truth") : text.index("## All runs")]
    assert "- causal variants: 3\n- causal genes: 2\n" in truth
    assert "| expecto | expression | expecto_evaluate | `v1` | 0.5 | 4 | 2 |" in truth
    assert "| foundation | world | simulate | FINISHED | `s0` |" in text
    assert "| mpra | test_pearson | higher is better | yes |" in text


def test_report_of_nothing(tmp_path: Path) -> None:
    text = write_comparison_report(tmp_path, compare([]), SCOPE).read_text()
    assert "0 step runs of 0 families (none)" in text
    assert "No run of a task with headline metrics." in text
    assert "No run logged a planted-truth metric." in text
    assert not (tmp_path / "plots").exists()
