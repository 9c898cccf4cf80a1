from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd

from exprflow.evaluation.report import markdown_table, write_report


def test_markdown_table_formats_cells() -> None:
    frame = pd.DataFrame(
        {
            "name": ["a|b", "c"],
            "n": [3, 4],
            "r": [0.123456, np.nan],
            "ok": [True, False],
            "causal": pd.array([pd.NA, True], dtype="boolean"),
        }
    )
    assert markdown_table(frame) == (
        "| name | n | r | ok | causal |\n"
        "|---|---|---|---|---|\n"
        "| a\\|b | 3 | 0.1235 | yes | n/a |\n"
        "| c | 4 | n/a | no | yes |\n"
    )


def test_report_has_notes_tables_and_plots(tmp_path: Path) -> None:
    per_tissue = pd.DataFrame({"test_spearman": [0.5]}, index=pd.Index(["E116"], name="tissue"))
    per_gene = pd.DataFrame(
        {
            "gene_id": ["G1", "G2", "G3"],
            "q_value": [0.2, 0.01, 0.03],
            "significant": [False, True, True],
        }
    )
    dest = write_report(
        tmp_path / "report.md",
        {"test_spearman": 0.5, "n_genes": 12.0, "fraction_wrong_sign": float("nan")},
        notes=["haplotypes are combined additively"],
        per_tissue=per_tissue,
        per_gene=per_gene,
        plots={"Cross-gene": "../plots/cross_gene.png"},
        title="Evaluation",
    )
    text = dest.read_text()
    assert text.startswith("# Evaluation\n")
    assert "- haplotypes are combined additively\n" in text
    assert "| test_spearman | 0.5 |" in text and "| n_genes | 12 |" in text
    assert "| fraction_wrong_sign | n/a |" in text
    assert "| tissue | test_spearman |\n|---|---|\n| E116 | 0.5 |" in text
    assert "(2 shown)" in text and text.index("| G2 |") < text.index("| G3 |")
    assert "| G1 |" not in text
    assert "![Cross-gene](../plots/cross_gene.png)" in text


def test_report_without_optional_sections(tmp_path: Path) -> None:
    text = write_report(tmp_path / "r.md", {"n_genes": 3}).read_text()
    assert "## Metrics" in text and "## Plots" not in text and "per tissue" not in text
