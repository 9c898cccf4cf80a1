from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass
from pathlib import Path

import pytest

from exprflow.tracking.work import keyed_work_folder


@dataclass(frozen=True)
class _Params:
    data: str = "in.h5"
    lr: float = 1e-3
    models: str = "a,b"


def test_the_key_digests_content_and_settings_but_not_the_excluded(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("EXPRFLOW_DATA_ROOT", str(tmp_path))
    folder = keyed_work_folder("step", "abc", _Params(), ("data", "models"))
    expected = hashlib.sha256(json.dumps(["abc", {"lr": 1e-3}], sort_keys=True).encode())
    assert folder == tmp_path / "step" / expected.hexdigest()[:16] and folder.is_dir()
    same = keyed_work_folder("step", "abc", _Params(data="x", models="c"), ("data", "models"))
    assert same == folder
    assert keyed_work_folder("step", "abc", _Params(lr=1e-2), ("data", "models")) != folder
    assert keyed_work_folder("step", "abd", _Params(), ("data", "models")) != folder
