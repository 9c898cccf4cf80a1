"""Write ``truth.json``: everything planted in the world, for evaluation only.

Only evaluation code may read this file; every model and data builder reads the world's
real-format files. Coordinates follow the file conventions and are named so: variant
``pos`` is 1-based (VCF ``POS``), intervals (``start``, ``end``) are 0-based half-open
(BED). Effects are log2 RPKM per ALT allele in the LCL-like cell type.
"""

from __future__ import annotations

import json
from dataclasses import asdict
from pathlib import Path
from typing import Any

import numpy as np

from exprflow.atomic import atomic_path
from exprflow.simulate.causal import CausalPlan
from exprflow.simulate.config import WorldSize
from exprflow.simulate.layout import WorldLayout

__all__ = ["TRUTH_FORMAT", "build_truth", "json_default", "write_truth"]

#: Version of the truth.json layout (2: ``code_version`` replaced ``exprflow_version``).
TRUTH_FORMAT = 2


def _causal_record(variant: Any) -> dict[str, Any]:
    record = asdict(variant)
    record["pos"] = variant.pos + 1
    record["site_end"] = variant.site_start + len(variant.ref_site)
    record["id"] = record.pop("variant_id")
    return record


def build_truth(
    size: WorldSize,
    seed: int,
    code_version: str,
    layout: WorldLayout,
    plan: CausalPlan,
    fragments: dict[str, Any],
) -> dict[str, Any]:
    """Assemble the truth document.

    Parameters
    ----------
    size : WorldSize
        The world's size.
    seed : int
        The world's seed.
    code_version : str
        :func:`~exprflow.tracking.fingerprint.code_version` of the code that made it.
    layout : WorldLayout
        The layout (sites, enhancers, TF activity, expression).
    plan : CausalPlan
        The causal variants.
    fragments : dict
        Component name → truth fragment returned by its writer.

    Returns
    -------
    dict
        JSON-ready document.
    """
    lcl = layout.cell_types[0].eid
    return {
        "format": TRUTH_FORMAT,
        "size": size.to_dict(),
        "seed": seed,
        "code_version": code_version,
        "conventions": {
            "variant_pos": "1-based (VCF POS)",
            "intervals": "0-based half-open (start, end)",
            "effect": "log2 RPKM per ALT allele in the LCL-like cell type",
        },
        "lcl_cell_type": lcl,
        "cell_types": [{"eid": c.eid, "name": c.name} for c in layout.cell_types],
        "tf_activity": {
            tf: {eid: float(v) for eid, v in row.items()}
            for tf, row in layout.tf_activity.iterrows()
        },
        "gene_baseline_log2_rpkm": {g: round(float(v), 4) for g, v in _log2(layout, lcl).items()},
        "causal_variants": [_causal_record(v) for v in plan.variants],
        "motif_sites": [{**asdict(s), "end": s.start + len(s.sequence)} for s in layout.sites],
        "created_sites": [
            {
                "chrom": v.chrom,
                "start": v.site_start,
                "end": v.site_start + len(v.alt_site),
                "tf": v.tf,
                "sequence": v.alt_site,
                "strand": v.site_strand,
                "gene_id": v.gene_id,
            }
            for v in plan.variants
            if v.change == "created"
        ],
        "enhancers": [asdict(e) for e in layout.enhancers],
        "components": fragments,
    }


def _log2(layout: WorldLayout, eid: str) -> dict[str, float]:
    """log2 RPKM of every gene in cell type ``eid``."""
    column = layout.cell_expression[eid]
    return dict(zip(column.index, np.log2(column.to_numpy(dtype=float)).tolist(), strict=True))


def write_truth(path: Path, truth: dict[str, Any]) -> None:
    """Write the truth document as indented JSON, atomically.

    Parameters
    ----------
    path : Path
        Destination ``truth.json``.
    truth : dict
        :func:`build_truth` output.
    """
    with atomic_path(path) as tmp:
        tmp.write_text(json.dumps(truth, indent=1, default=json_default) + "\n")


def json_default(value: Any) -> Any:
    """JSON value of a numpy scalar or a path, for ``json.dumps(default=...)``.

    Parameters
    ----------
    value : Any
        An object ``json`` cannot write by itself.

    Returns
    -------
    Any
        The numpy scalar's Python value, or the path as a string.

    Raises
    ------
    TypeError
        For any other type.
    """
    if hasattr(value, "item"):
        return value.item()
    if isinstance(value, Path):
        return str(value)
    raise TypeError(f"cannot write {type(value).__name__} as JSON")
