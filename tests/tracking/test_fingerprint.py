from __future__ import annotations

import hashlib
from pathlib import Path

import pytest

from exprflow.tracking.fingerprint import code_version, fingerprint


def test_file_fingerprint_is_sha256_of_bytes(tmp_path: Path) -> None:
    path = tmp_path / "a.txt"
    path.write_bytes(b"ACGT\n")
    assert fingerprint(path) == hashlib.sha256(b"ACGT\n").hexdigest()


def test_folder_fingerprint_depends_on_names_and_content_not_location(tmp_path: Path) -> None:
    for root in ("x", "y"):
        (tmp_path / root / "sub").mkdir(parents=True)
        (tmp_path / root / "sub" / "f.txt").write_text("one")
        (tmp_path / root / "g.txt").write_text("two")
    (tmp_path / "y" / ".partial-junk").write_text("ignored")
    assert fingerprint(tmp_path / "x") == fingerprint(tmp_path / "y")
    (tmp_path / "y" / "g.txt").write_text("three")
    assert fingerprint(tmp_path / "x") != fingerprint(tmp_path / "y")
    (tmp_path / "y" / "g.txt").write_text("two")
    (tmp_path / "y" / "sub" / "f.txt").rename(tmp_path / "y" / "sub" / "h.txt")
    assert fingerprint(tmp_path / "x") != fingerprint(tmp_path / "y")


def test_missing_path_is_an_error(tmp_path: Path) -> None:
    with pytest.raises(FileNotFoundError, match="nothing"):
        fingerprint(tmp_path / "nothing")


def test_code_version_names_package_version_and_source_digest() -> None:
    version, digest = code_version().split("+")
    assert version and len(digest) == 12
