from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from exprflow.data.chromatin_meta import (
    MARKS,
    META_COLUMNS,
    format_intervals,
    parse_intervals,
    parse_scores,
    read_chromatin_meta,
    write_chromatin_meta,
)
from exprflow.errors import InputError
from exprflow.simulate import layout

HEADER = ",".join(META_COLUMNS)
GOOD = [
    "ENSG1,4.5,E003,1,chr1,100,101,-,1,chr1:10-20;chr2:5-9,1.6;2.5",
    "ENSG2,0,E003,0,chr2,7,8,+,3,,",
]


def _write(tmp_path: Path, rows: list[str], header: str = HEADER) -> Path:
    path = tmp_path / "train.csv"
    path.write_text("\n".join([header, *rows]) + "\n")
    return path


def test_marks_are_the_world_tuple() -> None:
    assert MARKS is layout.MARKS
    assert MARKS[:2] == ("H3K4me1", "H3K4me3") and len(MARKS) == 7


def test_reads_the_published_demo_meta(real_dir: Path) -> None:
    meta = read_chromatin_meta(real_dir / "chromoformer" / "demo_meta.csv")
    assert len(meta) == 100 and tuple(meta.columns) == META_COLUMNS
    assert set(meta["eid"]) == {"E003"} and set(meta["split"]) == {1}
    assert meta["strand"].value_counts().to_dict() == {"+": 56, "-": 44}
    counts = meta["neighbors"].map(lambda s: len(parse_intervals(s)))
    assert counts.sum() == 580 and (counts == 0).sum() == 11 and (counts == 8).sum() == 58
    assert (counts == meta["scores"].map(lambda s: len(parse_scores(s)))).all()
    assert meta["label"].sum() == 47 and (meta["end"] - meta["start"]).eq(1).all()
    first = meta.iloc[0]
    assert (first["gene_id"], first["expression"], first["start"]) == (
        "ENSG00000116213",
        4.554,
        3566667,
    )
    assert parse_intervals(first["neighbors"]) == [("chr1", 3008934, 3016866)]
    assert meta.dtypes["split"] == np.int64 and meta.dtypes["expression"] == np.float64


def test_published_file_round_trips_byte_for_byte(real_dir: Path, tmp_path: Path) -> None:
    source = real_dir / "chromoformer" / "demo_meta.csv"
    dest = write_chromatin_meta(read_chromatin_meta(source), tmp_path / "train.csv")
    assert dest.read_bytes() == source.read_bytes()


def test_round_trip_keeps_values_and_extra_columns(tmp_path: Path) -> None:
    meta = read_chromatin_meta(_write(tmp_path, GOOD))
    assert meta["neighbors"].tolist() == ["chr1:10-20;chr2:5-9", ""]
    meta["prediction"] = [0.9, 0.1]
    back = read_chromatin_meta(write_chromatin_meta(meta, tmp_path / "again.csv"))
    pd.testing.assert_frame_equal(back, meta)


def test_nan_neighbours_read_as_none(tmp_path: Path) -> None:
    meta = read_chromatin_meta(_write(tmp_path, [GOOD[0], "ENSG2,0,E003,0,chr2,7,8,+,3,NaN,NaN"]))
    assert meta["neighbors"].iloc[1] == "" and meta["scores"].iloc[1] == ""


def test_interval_helpers() -> None:
    intervals = [("chr1", 10, 20), ("chrUn_1:x", 0, 5)]
    assert parse_intervals(format_intervals(intervals)) == intervals
    assert parse_intervals("") == [] and parse_scores("") == []
    assert parse_scores("1.5;2") == [1.5, 2.0]


@pytest.mark.parametrize(
    ("row", "message"),
    [
        ("ENSG3,1,E003,1,chr1,5,6,+,1,chr1:1-2;chr1:3-4,1.7", r"2 neighbors but 1 scores"),
        ("ENSG3,1,E003,1,chr1,5,6,*,1,,", r"strand '\*' is not"),
        ("ENSG3,1,E003,1,chr1,5,6,+,5,,", r"split 5 is not a fold group 1..4"),
        ("ENSG3,1,E003,2,chr1,5,6,+,1,,", r"label 2 is not 0 or 1"),
        ("ENSG3,-1,E003,1,chr1,5,6,+,1,,", r"expression -1.0 is not a finite RPKM"),
        ("ENSG3,1,E003,1,chr1,6,6,+,1,,", r"start 6 / end 6"),
        ("ENSG3,1,E003,1,chr1,5,6,+,1,chr1:9-,1.7", r"neighbour 'chr1:9-' is not chrom:start-end"),
        ("ENSG3,1,E003,1,chr1,5,6,+,1,chr1:1-2,high", r"could not convert|not all finite"),
        ("ENSG3,1,E003,1,,5,6,+,1,,", r"must not be empty"),
        ("ENSG1,1,E003,1,chr1,5,6,+,1,,", r"gene ENSG1 appears twice for E003"),
        (
            "ENSG3,1,E003,1,chr1,5,6,+,1,"
            + ";".join(f"chr1:{i}-{i + 1}" for i in range(9))
            + ","
            + ";".join(["2"] * 9),
            r"9 neighbors, more than 8",
        ),
    ],
)
def test_malformed_rows_are_named(tmp_path: Path, row: str, message: str) -> None:
    with pytest.raises(InputError, match=message) as error:
        read_chromatin_meta(_write(tmp_path, [*GOOD, row]))
    assert "line 4" in str(error.value) and "train.csv" in str(error.value)


@pytest.mark.parametrize(
    ("row", "message"),
    [
        ("ENSG3,high,E003,1,chr1,5,6,+,1,,", r"line 4: expression 'high' is not a number"),
        ("ENSG3,1,E003,1,chr1,5.5,6,+,1,,", r"line 4: start '5.5' is not an integer"),
        ("ENSG3,,E003,1,chr1,5,6,+,1,,", r"line 4: expression '' is not a number"),
    ],
)
def test_non_numbers_are_named(tmp_path: Path, row: str, message: str) -> None:
    with pytest.raises(InputError, match=message):
        read_chromatin_meta(_write(tmp_path, [*GOOD, row]))


def test_missing_file_and_columns(tmp_path: Path) -> None:
    with pytest.raises(InputError, match="not found"):
        read_chromatin_meta(tmp_path / "absent.csv")
    path = _write(tmp_path, [r.rsplit(",", 1)[0] for r in GOOD], HEADER.rsplit(",", 1)[0])
    with pytest.raises(InputError, match=r"header: lacks columns \['scores'\]"):
        read_chromatin_meta(path)
    with pytest.raises(InputError, match=r"lacks columns \['split'\]"):
        write_chromatin_meta(pd.DataFrame({"gene_id": ["x"]}).assign(
            **{c: [0] for c in META_COLUMNS if c != "split"}
        ), tmp_path / "out.csv")  # fmt: skip
