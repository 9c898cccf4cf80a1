"""Markdown report of an expression evaluation: method notes, metric tables and plots.

:func:`write_report` writes one ``report.md`` (atomically) with, in order: the notes
saying how each number was computed, the summary metrics, the per-tissue cross-gene
table, the genes with a significant cross-individual correlation, and the plots as
image links relative to the report (so the run's artifact folder reads as one document).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import Path

import numpy as np
import pandas as pd

from exprflow.atomic import atomic_path

__all__ = ["markdown_table", "write_report"]

#: Significant genes listed in the report at most.
MAX_GENES = 25


def _cell(value: object) -> str:
    if value is pd.NA or value is None:
        return "n/a"
    if isinstance(value, bool | np.bool_):
        return "yes" if value else "no"
    if isinstance(value, int | np.integer):
        return str(int(value))
    if isinstance(value, float | np.floating):
        number = float(value)
        if not np.isfinite(number):
            return "n/a"
        return str(int(number)) if number.is_integer() and abs(number) < 1e9 else f"{number:.4g}"
    return str(value).replace("|", "\\|")


def markdown_table(frame: pd.DataFrame) -> str:
    """Render a table as GitHub Markdown (index not shown; NaN as ``n/a``).

    Parameters
    ----------
    frame : pandas.DataFrame
        Any table; floats are shown with 4 significant digits.

    Returns
    -------
    str
        Header, separator and one line per row, newline-terminated.
    """
    lines = [
        "| " + " | ".join(map(str, frame.columns)) + " |",
        "|" + "---|" * len(frame.columns),
    ]
    lines += ["| " + " | ".join(_cell(v) for v in row) + " |" for row in frame.itertuples(False)]
    return "\n".join(lines) + "\n"


def _sections(
    metrics: Mapping[str, float],
    per_tissue: pd.DataFrame | None,
    per_gene: pd.DataFrame | None,
) -> list[str]:
    summary = pd.DataFrame({"metric": list(metrics), "value": list(metrics.values())})
    out = ["## Metrics\n", markdown_table(summary)]
    if per_tissue is not None:
        out += ["## Cross-gene correlation per tissue\n", markdown_table(per_tissue.reset_index())]
    if per_gene is not None:
        hits = per_gene[per_gene["significant"]].sort_values("q_value").head(MAX_GENES)
        out.append(
            f"## Genes with a significant cross-individual correlation ({len(hits)} shown)\n"
        )
        out.append(markdown_table(hits) if len(hits) else "None.\n")
    return out


def write_report(
    dest: str | Path,
    metrics: Mapping[str, float],
    *,
    notes: Sequence[str] = (),
    per_tissue: pd.DataFrame | None = None,
    per_gene: pd.DataFrame | None = None,
    plots: Mapping[str, str] | None = None,
    title: str = "Expression evaluation",
) -> Path:
    """Write the Markdown report.

    Parameters
    ----------
    dest : str or Path
        ``report.md`` to write.
    metrics : Mapping of str to float
        Summary metrics, shown in this order.
    notes : Sequence of str, default ()
        Method notes, one bullet each.
    per_tissue : pandas.DataFrame, optional
        Cross-gene metrics, index tissue. Default None: section left out.
    per_gene : pandas.DataFrame, optional
        Cross-individual per-gene table (``significant``, ``q_value`` columns); the
        significant genes (at most :data:`MAX_GENES`, by q-value) are listed. Default None.
    plots : Mapping of str to str, optional
        Caption → image path relative to the report. Default None: no plots.
    title : str, default "Expression evaluation"
        Level-1 heading.

    Returns
    -------
    Path
        ``dest``.
    """
    parts = [f"# {title}\n"]
    if notes:
        parts += ["## How the numbers are computed\n", "".join(f"- {n}\n" for n in notes)]
    parts += _sections(metrics, per_tissue, per_gene)
    if plots:
        parts.append("## Plots\n")
        parts += [f"### {caption}\n\n![{caption}]({path})\n" for caption, path in plots.items()]
    dest = Path(dest)
    with atomic_path(dest) as tmp:
        tmp.write_text("\n".join(parts))
    return dest
