from __future__ import annotations

import json
import math
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from tests.data._chromatin_files import (
    GENES,
    INTERACTION_HEADER,
    INTERACTIONS,
    write_interactions,
    write_world,
)

from exprflow.data._chromatin_bins import cumulative, pcre_bins, promoter_bins
from exprflow.data._chromatin_pcres import read_interactions, select_pcres
from exprflow.data._chromatin_tracks import open_track
from exprflow.data.chromatin_dataset import (
    ChromatinBuilt,
    build_chromatin_dataset,
    cnn_window,
    read_chromatin_features,
)
from exprflow.data.chromatin_meta import read_chromatin_meta
from exprflow.errors import InputError

LN = np.log


def _build(tmp_path: Path, files: dict[str, Path], **kwargs: object) -> ChromatinBuilt:
    kwargs.setdefault("marks", ("H3K27ac", "H3K4me3"))
    return build_chromatin_dataset(
        files["tracks"],
        GENES,
        files["rpkm"],
        files["interactions"],
        tmp_path / "chromatin",
        **kwargs,  # type: ignore[arg-type]
    )


@pytest.fixture(scope="module")
def built(tmp_path_factory: pytest.TempPathFactory) -> ChromatinBuilt:
    root = tmp_path_factory.mktemp("chromatin")
    return _build(root, write_world(root))


def _expected_promoter_plus() -> dict[int, np.ndarray]:
    """H3K4me3 bins of ENSG1 (+) by hand: ln(mean + 1) of the known signal."""
    p2000 = np.zeros(20)
    p2000[0], p2000[10], p2000[19] = LN(3), LN(1 + 500 / 2000), LN(1 + 400 / 2000)
    p500 = np.zeros(80)
    p500[:4], p500[40], p500[79] = LN(3), LN(2), LN(1 + 400 / 500)
    p100 = np.zeros(400)
    p100[:20], p100[200:205], p100[399] = LN(3), LN(2), LN(5)
    return {2000: p2000, 500: p500, 100: p100}


def test_promoter_bins_and_minus_strand_flip(built: ChromatinBuilt) -> None:
    features = read_chromatin_features(built.folder, "E003")
    assert features.marks == ("H3K4me3", "H3K27ac")  # MARKS order, whatever was asked
    assert features.gene_id.tolist() == ["ENSG1", "ENSG2", "ENSG3"]
    for r, expected in _expected_promoter_plus().items():
        plus, minus = features.promoter[r][0], features.promoter[r][1]
        assert plus.shape == (40_000 // r, 2) and plus.dtype == np.float32
        np.testing.assert_allclose(plus[:, 0], expected, rtol=1e-6)
        np.testing.assert_allclose(minus[:, 0], expected[::-1], rtol=1e-6)
        np.testing.assert_allclose(plus[:, 1], np.log1p(2 * np.expm1(expected)), rtol=1e-6)
    assert features.promoter[100][1, 0, 0] == pytest.approx(LN(5))  # the '-' gene starts downstream


def test_pcre_bins_partial_last_bin_and_centred_padding(built: ChromatinBuilt) -> None:
    features = read_chromatin_features(built.folder, "E003", ["H3K4me3"])
    # ENSG1's pCRE chr1:10,000-11,250: 1,000 bp of 3 then 250 bp of 1.
    p100 = np.zeros(400)  # 13 bins, left pad ceil(387 / 2) = 194
    p100[194:204], p100[204:207] = LN(4), LN(2)
    p500 = np.zeros(80)  # 3 bins (the last over 250 bp), left pad ceil(77 / 2) = 39
    p500[39:41], p500[41] = LN(4), LN(2)
    p2000 = np.zeros(20)  # 1 bin over 1,250 bp, left pad ceil(19 / 2) = 10
    p2000[10] = LN(1 + (1000 * 3 + 250 * 1) / 1250)
    for r, expected in {100: p100, 500: p500, 2000: p2000}.items():
        np.testing.assert_allclose(features.pcre[r][0, 0, :, 0], expected, rtol=1e-6)
        assert not features.pcre[r][0, 1:].any() and not features.pcre[r][2].any()
    np.testing.assert_array_equal(features.pcre_length[:, :2], [[1250, 0], [400, 0], [0, 0]])
    np.testing.assert_array_equal(features.pcre_score[:, 0], np.float32([4.0, 2.5, 0.0]))


def test_pcre_bins_of_odd_lengths_by_hand() -> None:
    cum = cumulative(np.arange(1, 8, dtype=np.float64))  # bases 1..7
    out = pcre_bins(cum, np.array([0, 2]), np.array([7, 2]), 3, 5)
    # 7 bp → bins (1,2,3),(4,5,6),(7): 3 bins, left pad ceil(2/2) = 1
    np.testing.assert_allclose(out[0], [0, LN(3), LN(6), LN(8), 0], rtol=1e-6)
    # 2 bp (3, 4) → 1 bin, left pad ceil(4/2) = 2
    np.testing.assert_allclose(out[1], [0, 0, LN(4.5), 0, 0], rtol=1e-6)


def test_promoter_bins_off_the_contig_count_zero() -> None:
    cum = cumulative(np.full(6, 2.0))  # a 6 bp contig, window starting 2 bp before it
    np.testing.assert_allclose(promoter_bins(cum, np.array([-2]), 4, 8), [[LN(2), LN(3)]])


def test_metadata_labels_and_neighbours(built: ChromatinBuilt) -> None:
    meta = read_chromatin_meta(built.folder / "train.csv")
    assert meta["eid"].tolist() == ["E003"] * 3 + ["E004"] * 3
    assert meta["gene_id"].tolist() == ["ENSG1", "ENSG2", "ENSG3"] * 2
    assert meta["label"].tolist() == [0, 1, 1, 1, 0, 1]  # >= median (2.0; 5.0)
    assert meta["expression"].tolist() == [1.0, 2.0, 3.0, 5.0, 4.0, 6.5]
    assert meta["start"].tolist() == [50_000, 50_000, 80_000] * 2
    assert (meta["end"] - meta["start"]).eq(1).all()
    assert meta["split"].tolist() == [1, 2, 2] * 2  # chr1, chr2: cyclic
    assert meta["neighbors"].tolist() == [
        "chr1:10000-11250", "chr2:20000-20400", "", "chr1:90000-91000", "", "",
    ]  # fmt: skip
    assert meta["scores"].tolist() == ["4.0", "2.5", "", "1.7", "", ""]
    summary = json.loads((built.folder / "summary.json").read_text())
    assert summary["genes"] == 3 and summary["cells"] == ["E003", "E004"]
    assert summary["pcres_per_gene"]["E004"] == {"mean": 1 / 3, "min": 0, "max": 1, "none": 2}
    assert built.fold_scheme == "cyclic" and built.groups == {"chr1": 1, "chr2": 2}


def test_bedgraph_tracks_give_the_same_features(tmp_path: Path, built: ChromatinBuilt) -> None:
    other = _build(tmp_path, write_world(tmp_path, bedgraph=True), chunk_genes=2)
    for eid in ("E003", "E004"):
        a = read_chromatin_features(built.folder, eid)
        b = read_chromatin_features(other.folder, eid)
        for r in (2000, 500, 100):
            np.testing.assert_array_equal(a.promoter[r], b.promoter[r])
            np.testing.assert_array_equal(a.pcre[r], b.pcre[r])
    assert (other.folder / "train.csv").read_text() == (built.folder / "train.csv").read_text()


def test_tracks_as_a_mapping(tmp_path: Path, built: ChromatinBuilt) -> None:
    files = write_world(tmp_path)
    tracks = {"E004": {m: files["tracks"] / "E004" / f"{m}.bigWig" for m in ("H3K4me3",)}}
    files = files | {"tracks": tracks}  # type: ignore[dict-item]
    mapped = _build(tmp_path, files, marks=["H3K4me3"])
    assert mapped.cells == ("E004",)
    a = read_chromatin_features(mapped.folder, "E004")
    b = read_chromatin_features(built.folder, "E004", ["H3K4me3"])
    np.testing.assert_array_equal(a.pcre[100], b.pcre[100])
    with pytest.raises(InputError, match=r"tracks\['E004'\]\['H3K27ac'\].*E004 has no H3K27ac"):
        _build(tmp_path, files)


def test_feature_mark_selection(built: ChromatinBuilt) -> None:
    both = read_chromatin_features(built.folder, "E003")
    swapped = read_chromatin_features(built.folder, "E003", ["H3K27ac", "H3K4me3"])
    np.testing.assert_array_equal(swapped.pcre[500][..., 0], both.pcre[500][..., 1])
    with pytest.raises(InputError, match=r"H3K9me3.*not in the file.*H3K4me3"):
        read_chromatin_features(built.folder, "E003", ["H3K9me3"])
    with pytest.raises(InputError, match=r"cell type E999.*E003"):
        read_chromatin_features(built.folder, "E999")


def test_cnn_window_is_the_central_6_kb() -> None:
    promoter = np.arange(2 * 400 * 3, dtype=np.float32).reshape(2, 400, 3)
    window = cnn_window(promoter)
    assert window.shape == (2, 60, 3)
    np.testing.assert_array_equal(window, promoter[:, 170:230])
    with pytest.raises(ValueError, match="400"):
        cnn_window(promoter[:, :100])


def test_missing_mark_file_is_named(tmp_path: Path) -> None:
    files = write_world(tmp_path)
    (files["tracks"] / "E004" / "H3K27ac.bigWig").unlink()
    with pytest.raises(
        InputError, match=r"E004/H3K27ac.bigWig.*E004 has no H3K27ac.*chromatin_marks"
    ):
        _build(tmp_path, files)
    with pytest.raises(InputError, match=r"E003 has no H3K9me3"):
        _build(tmp_path, files, marks=("H3K9me3",), cells=["E003"])


def test_gene_without_interactions(tmp_path: Path) -> None:
    files = write_world(tmp_path)
    rows = [row for row in INTERACTIONS if not (row[0] == "E004" and row[4] == "ENSG3.1")]
    write_interactions(files["interactions"], rows)
    with pytest.raises(InputError, match=r"pchic.tsv: E004 ENSG3: gene ENSG3 has no .*E004.*allow"):
        _build(tmp_path, files)
    allowed = _build(tmp_path, files, no_interactions="allow")
    assert read_chromatin_features(allowed.folder, "E004").pcre_length[2].sum() == 0
    write_interactions(files["interactions"], [r for r in INTERACTIONS if r[0] == "E003"])
    with pytest.raises(InputError, match=r"cell type E004 has no row at all.*\['E003'\]"):
        _build(tmp_path, files)


def test_chromosome_in_no_fold(tmp_path: Path) -> None:
    files = write_world(tmp_path)
    genes = pd.concat([GENES, GENES.iloc[[0]].assign(gene_id="ENSG3.1", chrom="chrUn_x")])
    genes = genes.drop_duplicates("gene_id", keep="last")
    with pytest.raises(InputError, match=r"chromosome 'chrUn_x' is in no published fold group"):
        build_chromatin_dataset(
            files["tracks"], genes, files["rpkm"], files["interactions"], tmp_path / "c",
            folds="published", marks=["H3K4me3"],
        )  # fmt: skip


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"marks": ("H3K4me3", "DNase")}, r"\['DNase'\] are not histone marks"),
        ({"cells": ["E003", "E042"]}, r"\['E042'\] have no expression column"),
        ({"folds": "random"}, r"fold scheme 'random'"),
        ({"no_interactions": "skip"}, r"no_interactions is 'skip'"),
    ],
)
def test_bad_arguments(tmp_path: Path, kwargs: dict[str, object], message: str) -> None:
    with pytest.raises(InputError, match=message):
        _build(tmp_path, write_world(tmp_path), **kwargs)


def test_bad_gene_table_and_contig(tmp_path: Path) -> None:
    files = write_world(tmp_path)
    out = tmp_path / "c"
    args = (files["rpkm"], files["interactions"], out)
    kwargs = {"cells": ["E003"], "marks": ["H3K4me3"]}
    with pytest.raises(InputError, match=r"ENSG2.3 is repeated.*strand '\.'"):
        build_chromatin_dataset(
            files["tracks"], GENES.assign(strand=["+", ".", "+"]), *args, **kwargs
        )
    with pytest.raises(InputError, match=r"lacks columns \['tss'\]"):
        build_chromatin_dataset(files["tracks"], GENES.drop(columns="tss"), *args, **kwargs)
    with pytest.raises(InputError, match=r"no gene of the gene table has expression"):
        build_chromatin_dataset(
            files["tracks"], GENES.assign(gene_id=["X1", "X2", "X3"]), *args, **kwargs
        )
    moved = GENES.assign(chrom=["chr1", "chr9", "chr9"])
    with pytest.raises(InputError, match=r"contig 'chr9' is not in the file"):
        build_chromatin_dataset(files["tracks"], moved, *args, **kwargs, no_interactions="allow")


def test_tiny_world_builds(tiny_world: Path, tmp_path: Path) -> None:
    from exprflow.genome.annotation import read_genes
    from exprflow.simulate.world import load_manifest

    manifest = load_manifest(tiny_world)
    built = build_chromatin_dataset(
        manifest.path("tracks"),
        read_genes(manifest.path("gtf")),
        manifest.path("roadmap_rpkm"),
        manifest.path("interactions"),
        tmp_path / "chromatin",
        marks=("H3K4me3", "H3K27me3"),
    )
    meta = read_chromatin_meta(tmp_path / "chromatin" / "train.csv")
    assert len(meta) == built.n_genes * len(built.cells)
    features = read_chromatin_features(built.folder, built.cells[0])
    assert features.pcre[100].shape == (built.n_genes, 8, 400, 2)
    assert math.isclose(
        built.pcres_per_gene[built.cells[0]],
        float((features.pcre_length > 0).sum(axis=1).mean()),
    )
    assert (features.promoter[100] >= 0).all() and features.promoter[100].any()


def test_pcre_selection_threshold_length_top_8_per_cell(tmp_path: Path) -> None:
    bait = ("chr1", 0, 10, "ENSG1.1")
    rows = [
        ("E003", *bait, "chr1", 100, 200, 1.5),  # not > 1.5
        ("E003", *bait, "chr1", 200, 40_201, 9.0),  # 40,001 bp: too long
        ("E003", *bait, "chr1", 500, 600, 3.0),
        ("E003", *bait, "chr1", 500, 600, 2.0),  # same interval again: counted once
        *[("E003", *bait, "chr1", 1000 * i, 1000 * i + 50, 2.0 + i / 10) for i in range(1, 9)],
        ("E003", *bait, "chr2", 70, 80, 2.5),  # ties 2.5 of chr1:5000-5050 (text order)
        ("E004", *bait, "chr1", 100, 200, 1.51),
        ("E004", *bait, "chr1", 300, 40_300, 1.6),  # 40,000 bp: kept
        ("E004", *bait, "chr1", 0, 40_001, 5.0),
    ]
    table = read_interactions(write_interactions(tmp_path / "p.tsv", rows))
    chosen = select_pcres(table, "E003", ["ENSG1"])["ENSG1"]
    assert [(c, s, e) for c, s, e, _ in chosen] == [
        ("chr1", 500, 600), ("chr1", 8000, 8050), ("chr1", 7000, 7050), ("chr1", 6000, 6050),
        ("chr1", 5000, 5050), ("chr2", 70, 80), ("chr1", 4000, 4050), ("chr1", 3000, 3050),
    ]  # fmt: skip
    assert [s for *_, s in chosen] == pytest.approx([3.0, 2.8, 2.7, 2.6, 2.5, 2.5, 2.4, 2.3])
    assert select_pcres(table, "E004", ["ENSG1"]) == {
        "ENSG1": [("chr1", 300, 40_300, 1.6), ("chr1", 100, 200, 1.51)]
    }


@pytest.mark.parametrize(
    ("line", "message"),
    [
        ("E003\tchr1\t0\t10\tG\tchr1\t5\t9\thigh\n", r"line 2: score is not a number"),
        ("E003\tchr1\t0\t10\tG\tchr1\t9\t5\t2\n", r"line 2: other interval is not"),
        ("E003\tchr1\t0\t1.5\tG\tchr1\t5\t9\t2\n", r"line 2: bait_end is not an integer"),
    ],
)
def test_bad_interaction_tables(tmp_path: Path, line: str, message: str) -> None:
    path = tmp_path / "p.tsv"
    path.write_text(INTERACTION_HEADER + line)
    with pytest.raises(InputError, match=message):
        read_interactions(path)
    path.write_text(INTERACTION_HEADER.replace("score", "frequency") + line)
    with pytest.raises(InputError, match=r"header: lacks columns \['score'\]"):
        read_interactions(path)


def test_bad_bedgraph(tmp_path: Path) -> None:
    path = tmp_path / "x.bedGraph"
    path.write_text("chr1\t0\t10\t1\nchr1\t5\t20\t2\n")
    with pytest.raises(InputError, match=r"chr1:5-20: interval is empty, negative or overlaps"):
        open_track(path)
    path.write_text("chr1\t0\t10\n")
    with pytest.raises(InputError, match=r"not 4 tab-separated columns"):
        open_track(path)
    path.write_text("1\t10\t12\t2.5\n")  # Ensembl naming, read as chr1
    np.testing.assert_array_equal(open_track(path).per_base("chr1", 8, 14), [0, 0, 2.5, 2.5, 0, 0])
