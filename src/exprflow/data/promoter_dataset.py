"""Build every promoter-model task file from the inputs that are given (``prepare``).

The fluorescence MPRA table gives ``FluorescenceData`` and its classification variant
(:mod:`exprflow.data.promoter_fluorescence`); the genome, genes and Roadmap RPKM table give
``RNASeq`` (:mod:`exprflow.data.promoter_rnaseq`); ENCODE-style TF ChIP-seq peaks give
``ENCODETFChIPSeq`` (:mod:`exprflow.data.promoter_chip`); Sharpr-MPRA HDF5 files give
``Sharpr_MPRA`` (:mod:`exprflow.data.promoter_sharpr`); SuRE genome tables give
``SuRE_classification`` (:mod:`exprflow.data.promoter_sure`). Each task is one HDF5 file
(:mod:`exprflow.data.promoter_tasks`) in the output folder, beside the published
``fluorescence/merged.tsv`` and ``summary.json`` (rows per task and split, seconds).
"""

from __future__ import annotations

import json
import time
from dataclasses import dataclass, field
from pathlib import Path

import pandas as pd

from exprflow.atomic import atomic_path
from exprflow.data.promoter_chip import build_chip_task
from exprflow.data.promoter_fluorescence import build_fluorescence_tasks
from exprflow.data.promoter_rnaseq import build_rnaseq_task
from exprflow.data.promoter_sharpr import build_sharpr_task
from exprflow.data.promoter_sure import build_sure_task
from exprflow.data.promoter_tasks import TaskData, write_task
from exprflow.errors import InputError

__all__ = [
    "SUMMARY_FILE",
    "PromoterBuilt",
    "PromoterInputs",
    "PromoterSettings",
    "build_promoter_datasets",
]

SUMMARY_FILE = "summary.json"
_SPLITS = ("train", "val", "test")


@dataclass(frozen=True)
class PromoterInputs:
    """The source files of the promoter tasks; a task is built when its inputs are set.

    Attributes
    ----------
    fluorescence : Path or None
        The fluorescence MPRA table (``mpra/fluorescence.tsv`` layout).
    fasta : Path or None
        Genome FASTA (RNASeq windows, ChIP windows, SuRE fragments).
    genes : pandas.DataFrame or None
        ``prepare``'s gene table (RNASeq).
    roadmap_rpkm : Path or None
        Roadmap ``57epigenomes.RPKM.pc`` table (RNASeq).
    chip : Path or None
        Folder of ENCODE ``metadata.tsv`` and narrowPeak files.
    sharpr : Path or None
        Folder of Sharpr-MPRA ``{train,valid,test}.hdf5``.
    sure : Path or None
        Folder of ``SuRE_<sample>.txt.gz`` genome tables.
    """

    fluorescence: Path | None = None
    fasta: Path | None = None
    genes: pd.DataFrame | None = None
    roadmap_rpkm: Path | None = None
    chip: Path | None = None
    sharpr: Path | None = None
    sure: Path | None = None


@dataclass(frozen=True)
class PromoterSettings:
    """How the tasks are built (``prepare``'s ``promoter_*`` parameters)."""

    split_seeds: int = 5
    chip_min_peaks: int = 5
    sure_per_pair: int = 0
    seed: int = 0


@dataclass(frozen=True)
class PromoterBuilt:
    """What :func:`build_promoter_datasets` wrote."""

    folder: Path
    rows: dict[str, dict[str, int]] = field(default_factory=dict)
    seconds: float = 0.0


def _tasks(inputs: PromoterInputs, settings: PromoterSettings, out: Path) -> list[TaskData]:
    tasks: list[TaskData] = []
    if inputs.fluorescence is not None:
        tasks += build_fluorescence_tasks(
            inputs.fluorescence, out / "fluorescence", split_seeds=settings.split_seeds
        )
    if inputs.fasta is not None and inputs.genes is not None and inputs.roadmap_rpkm:
        tasks.append(build_rnaseq_task(inputs.fasta, inputs.genes, inputs.roadmap_rpkm))
    if inputs.chip is not None and inputs.fasta is not None:
        tasks.append(
            build_chip_task(
                inputs.chip / "metadata.tsv",
                inputs.chip,
                inputs.fasta,
                min_peaks=settings.chip_min_peaks,
                seed=settings.seed,
            )
        )
    if inputs.sharpr is not None:
        tasks.append(build_sharpr_task(inputs.sharpr))
    if inputs.sure is not None and inputs.fasta is not None:
        tasks.append(
            build_sure_task(
                inputs.sure, inputs.fasta, per_pair=settings.sure_per_pair, seed=settings.seed
            )
        )
    return tasks


def build_promoter_datasets(
    inputs: PromoterInputs, out_dir: Path, settings: PromoterSettings | None = None
) -> PromoterBuilt:
    """Write one task file per available source into ``out_dir``.

    Parameters
    ----------
    inputs : PromoterInputs
        The sources; a task whose inputs are missing is not built.
    out_dir : Path
        Output folder (created).
    settings : PromoterSettings, optional
        Split seeds, ChIP and SuRE settings; defaults otherwise.

    Returns
    -------
    PromoterBuilt
        The folder, rows per task and split (first split seed), seconds.

    Raises
    ------
    InputError
        When no task can be built from the inputs.
    """
    settings = settings or PromoterSettings()
    start = time.perf_counter()
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    tasks = _tasks(inputs, settings, out)
    if not tasks:
        raise InputError(
            out,
            "no promoter task can be built: no fluorescence table, genome, ChIP, Sharpr or SuRE.",
            fix="pass -P mpra=<fluorescence.tsv> (or a world) to prepare.",
        )
    rows = {}
    for task in tasks:
        write_task(task, out)
        rows[task.spec.name] = {s: int(task.indices(s).size) for s in _SPLITS}
    built = PromoterBuilt(out, rows, time.perf_counter() - start)
    with atomic_path(out / SUMMARY_FILE) as tmp:
        tmp.write_text(json.dumps({"rows": rows, "seconds": built.seconds}, indent=1))
    return built
