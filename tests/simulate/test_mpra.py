from __future__ import annotations

import dataclasses
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from scipy.stats import pearsonr

from exprflow.errors import InputError
from exprflow.simulate.config import SIZES
from exprflow.simulate.motifs import load_motifs, site_score
from exprflow.simulate.mpra import (
    CELLS,
    COUNT_COLUMNS,
    MPRA_FILE,
    PROMOTER_CLASSES,
    write_mpra,
)

TINY = SIZES["tiny"]
SUMS = [f"{c}_sum" for c in CELLS]


@pytest.fixture(scope="module")
def written(tmp_path_factory: pytest.TempPathFactory):
    out = tmp_path_factory.mktemp("world")
    truth = write_mpra(out, TINY, np.random.default_rng(11))
    return out, truth, pd.read_csv(out / MPRA_FILE, sep="\t")


def _measured(table: pd.DataFrame, code: str) -> np.ndarray:
    """The reference (v2) target: +1, normalise to the library, log2(P4/P7), replicate mean."""
    ratios = []
    for rep in (1, 2):
        p4 = table[f"{code}{rep}_P4"] + 1.0
        p7 = table[f"{code}{rep}_P7"] + 1.0
        ratios.append(np.log2((p4 / p4.sum()) / (p7 / p7.sum())))
    return np.mean(ratios, axis=0)


def test_table_layout(written) -> None:
    _, truth, table = written
    assert list(table.columns) == [
        "sequence_id",
        "sequence",
        "promoter_class",
        "gc",
        *COUNT_COLUMNS,
    ]
    assert len(table) == TINY.mpra_library_size
    assert table["sequence"].str.fullmatch(f"[ACGT]{{{TINY.mpra_seq_length}}}").all()
    assert set(table["promoter_class"]) == set(PROMOTER_CLASSES)
    gc = table["sequence"].map(lambda s: (s.count("G") + s.count("C")) / len(s))
    assert np.allclose(gc, table["gc"], atol=1e-4)
    for code in CELLS:
        columns = [f"{code}{r}_{gate}" for r in (1, 2) for gate in ("P4", "P7")]
        assert (table[columns].sum(axis=1) == table[f"{code}_sum"]).all()
    assert truth["activity"]["sequence_id"] == table["sequence_id"].tolist()
    by_class = table.groupby("promoter_class")["gc"].mean()
    assert by_class["ClassI"] > by_class["ClassII"]


def test_measured_activity_tracks_planted_activity(written) -> None:
    _, truth, table = written
    keep = (table[SUMS] >= 5).all(axis=1).to_numpy()
    for code, cell in CELLS.items():
        r = pearsonr(_measured(table, code)[keep], np.asarray(truth["activity"][cell])[keep])[0]
        assert r > 0.7, (cell, r)


def test_filter_removes_the_planted_dropouts(written) -> None:
    _, truth, table = written
    removed = set(table.loc[(table[SUMS] < 5).any(axis=1), "sequence_id"])
    assert removed == set(truth["low_count"]) == set(truth["dropouts"])
    assert len(removed) == round(0.02 * TINY.mpra_library_size)


def test_planted_sites_are_strong_and_where_recorded(written) -> None:
    _, truth, table = written
    motifs = {m.name: m for m in load_motifs()}
    sequences = dict(zip(table["sequence_id"], table["sequence"], strict=True))
    sites = pd.DataFrame(truth["sites"])
    assert len(sites) > TINY.mpra_library_size
    for site in sites.itertuples():
        motif = motifs[site.tf]
        text = sequences[site.sequence_id][site.start : site.start + motif.length]
        if site.strand == "-":
            text = text[::-1].translate(str.maketrans("ACGT", "TGCA"))
        assert site_score(text, motif) == pytest.approx(site.score * motif.max_score)
        assert site.score >= 0.8 - 1e-9


def test_tf_activity_is_cell_specific(written) -> None:
    _, truth, _ = written
    activity = truth["tf_activity"]
    assert set(activity) == set(CELLS.values())
    assert activity["K562"]["GATA1"] > max(activity["JURKAT"]["GATA1"], activity["THP1"]["GATA1"])
    assert activity["THP1"]["SPI1"] > activity["JURKAT"]["SPI1"]


def test_same_seed_gives_identical_bytes(written, tmp_path: Path) -> None:
    out, truth, _ = written
    assert write_mpra(tmp_path, TINY, np.random.default_rng(11)) == truth
    assert (tmp_path / MPRA_FILE).read_bytes() == (out / MPRA_FILE).read_bytes()


def test_too_short_promoters_are_refused(tmp_path: Path) -> None:
    short = dataclasses.replace(TINY, mpra_seq_length=40)
    with pytest.raises(InputError, match=r"fluorescence\.tsv: mpra_seq_length 40 cannot hold"):
        write_mpra(tmp_path, short, np.random.default_rng(0))
