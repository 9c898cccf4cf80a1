from __future__ import annotations

from pathlib import Path

import pytest

from exprflow.atomic import atomic_path


def test_file_appears_only_when_complete(tmp_path: Path) -> None:
    dest = tmp_path / "out" / "calls.vcf.gz"
    with atomic_path(dest) as tmp:
        assert tmp.name.endswith(".vcf.gz") and tmp.parent == dest.parent
        tmp.write_bytes(b"data")
        assert not dest.exists()
    assert dest.read_bytes() == b"data"
    assert list(dest.parent.iterdir()) == [dest]


def test_failure_leaves_nothing_and_keeps_the_old_output(tmp_path: Path) -> None:
    dest = tmp_path / "table.tsv"
    dest.write_text("old")
    with pytest.raises(RuntimeError), atomic_path(dest) as tmp:
        tmp.write_text("half")
        raise RuntimeError("killed")
    assert dest.read_text() == "old"
    assert list(tmp_path.iterdir()) == [dest]


def test_folders_are_replaced_whole(tmp_path: Path) -> None:
    dest = tmp_path / "world"
    dest.mkdir()
    (dest / "stale.txt").write_text("x")
    with atomic_path(dest) as tmp:
        tmp.mkdir()
        (tmp / "fresh.txt").write_text("y")
    assert sorted(p.name for p in dest.iterdir()) == ["fresh.txt"]
