from __future__ import annotations

import dataclasses
import gzip
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from exprflow.simulate.chip import (
    ACTIVE_THRESHOLD,
    METADATA_COLUMNS,
    METADATA_FILE,
    NARROWPEAK_COLUMNS,
    Q_THRESHOLD,
    biosample_name,
    write_chip,
)
from exprflow.simulate.config import SIZES
from exprflow.simulate.genes import CELL_TYPE_CATALOGUE, lay_out_world
from exprflow.simulate.layout import CellType, WorldLayout
from exprflow.simulate.world import component_rng


@pytest.fixture(scope="module")
def layout() -> WorldLayout:
    return lay_out_world(SIZES["tiny"], component_rng(0, "layout"))


@pytest.fixture(scope="module")
def written(tmp_path_factory: pytest.TempPathFactory, layout: WorldLayout) -> tuple[Path, dict]:
    out = tmp_path_factory.mktemp("chip")
    return out, write_chip(out, layout, np.random.default_rng(7))


def _peaks(path: Path) -> pd.DataFrame:
    return pd.read_csv(path, sep="\t", header=None, names=list(NARROWPEAK_COLUMNS))


def test_biosample_names_of_the_catalogue() -> None:
    names = [biosample_name(CellType(eid, name)) for eid, name, _ in CELL_TYPE_CATALOGUE]
    assert names == ["GM12878", "K562", "HepG2", "H1", "HUVEC", "Liver", "NHEK", "Lung"]


def test_metadata_layout(written: tuple[Path, dict], layout: WorldLayout) -> None:
    out, truth = written
    meta = pd.read_csv(out / METADATA_FILE, sep="\t", dtype=str)
    assert tuple(meta.columns) == METADATA_COLUMNS
    assert (meta["File format"] == "bed narrowPeak").all()
    assert (meta["Output type"] == "IDR thresholded peaks").all()
    assert (meta["File assembly"] == "GRCh38").all()
    assert meta["File accession"].str.fullmatch(r"ENCFF\d{3}[A-Z]{3}").all()
    assert meta["Experiment accession"].str.fullmatch(r"ENCSR\d{3}[A-Z]{3}").all()
    assert meta["File accession"].is_unique and meta["Experiment accession"].is_unique
    expected = [
        (biosample_name(c), f"{tf}-human")
        for c in layout.cell_types
        for tf in layout.tf_activity.index
        if layout.tf_activity.at[tf, c.eid] >= ACTIVE_THRESHOLD
    ]
    got = list(zip(meta["Biosample term name"], meta["Experiment target"], strict=True))
    assert got == expected
    assert set(meta.loc[meta["Experiment target"] == "CTCF-human", "Biosample term name"]) == {
        "GM12878",
        "K562",
        "HepG2",
    }
    assert truth["files"]["peaks"] == [f"chip/{a}.bed.gz" for a in meta["File accession"]]
    assert sorted(p.name for p in (out / "chip").iterdir()) == sorted(
        ["metadata.tsv", *(f"{a}.bed.gz" for a in meta["File accession"])]
    )


def test_narrowpeak_layout(written: tuple[Path, dict], layout: WorldLayout) -> None:
    out, truth = written
    contig_order = {c: i for i, c in enumerate(layout.contigs)}
    for entry in truth["experiments"]:
        text = gzip.decompress((out / entry["file"]).read_bytes()).decode()
        assert all(line.count("\t") == 9 for line in text.splitlines())
        peaks = _peaks(out / entry["file"])
        assert len(peaks) == entry["n_peaks"] == len(entry["site"])
        for column in ("start", "end", "score", "peak"):
            assert peaks[column].dtype == np.int64, column
        assert (peaks["name"] == ".").all() and (peaks["strand"] == ".").all()
        assert peaks["score"].between(0, 1000).all()
        assert ((peaks["peak"] >= 0) & (peaks["peak"] < peaks["end"] - peaks["start"])).all()
        key = list(zip(peaks["chrom"].map(contig_order), peaks["start"], strict=True))
        assert key == sorted(key)
        assert ((peaks["pValue"] >= peaks["qValue"]) & (peaks["qValue"] > 0)).all()
        assert entry["n_pass"] == int((peaks["qValue"] >= Q_THRESHOLD).sum())


def test_peaks_lie_on_the_tfs_planted_sites(
    written: tuple[Path, dict], layout: WorldLayout
) -> None:
    out, truth = written
    n_false = n_low = n_true = 0
    for entry in truth["experiments"]:
        peaks = _peaks(out / entry["file"])
        summit = peaks["start"] + peaks["peak"]
        for row, index in enumerate(entry["site"]):
            if index < 0:
                n_false += 1
                continue
            site = layout.sites[index]
            end = site.start + len(site.sequence)
            assert site.tf == entry["tf"] and site.chrom == peaks.at[row, "chrom"]
            assert peaks.at[row, "start"] <= site.start and end <= peaks.at[row, "end"]
            assert site.start <= summit[row] < end
            n_true += 1
        n_low += int((peaks["qValue"] < Q_THRESHOLD).sum())
    assert n_true > 200 and 0 < n_false < n_true / 5
    assert 0.05 * (n_true + n_false) < n_low < 0.3 * (n_true + n_false)


def test_occupancy_rises_with_activity(tmp_path: Path, layout: WorldLayout) -> None:
    def true_peaks(level: float) -> int:
        flat = dataclasses.replace(layout, tf_activity=layout.tf_activity * 0 + level)
        truth = write_chip(tmp_path / str(level), flat, np.random.default_rng(3))
        assert len(truth["experiments"]) == len(layout.cell_types) * len(layout.tf_activity)
        return sum(i >= 0 for e in truth["experiments"] for i in e["site"])

    weak, strong = true_peaks(0.55), true_peaks(1.0)
    n_sites = len(layout.sites) * len(layout.cell_types)
    assert 0.45 * n_sites < weak < 0.65 * n_sites < 0.85 * n_sites < strong <= n_sites


def test_same_seed_gives_identical_files(
    tmp_path: Path, written: tuple[Path, dict], layout: WorldLayout
) -> None:
    out, truth = written
    again = write_chip(tmp_path, layout, np.random.default_rng(7))
    assert again == truth
    for rel in [METADATA_FILE, *truth["files"]["peaks"]]:
        assert (tmp_path / rel).read_bytes() == (out / rel).read_bytes(), rel
    other = write_chip(tmp_path / "other", layout, np.random.default_rng(8))
    assert other["experiments"][0]["accession"] != truth["experiments"][0]["accession"]
