from __future__ import annotations

from pathlib import Path

import numpy as np
import pyBigWig
import pytest

from exprflow.simulate.bigwig_writer import add_dense, add_sparse, open_bigwigs

CONTIGS = {"chr1": 105, "chr2": 40}
RES = 10


def test_dense_and_sparse_bins_read_back(tmp_path: Path) -> None:
    paths = {"dense": tmp_path / "d.bigWig", "sparse": tmp_path / "s.bigWig"}
    with open_bigwigs(paths, CONTIGS) as writers:
        for chrom, length in CONTIGS.items():
            n_bins = -(-length // RES)
            add_dense(writers["dense"], chrom, length, RES, np.arange(n_bins, dtype=float))
            bins = np.array([1, n_bins - 1])
            add_sparse(writers["sparse"], chrom, length, RES, bins, np.array([0.5, 2.0]))
    dense = pyBigWig.open(str(paths["dense"]))
    assert dense.chroms() == CONTIGS
    assert dense.intervals("chr1")[-2:] == ((90, 100, 9.0), (100, 105, 10.0))  # partial bin
    assert dense.intervals("chr2") == tuple((10 * i, 10 * i + 10, float(i)) for i in range(4))
    dense.close()
    sparse = pyBigWig.open(str(paths["sparse"]))
    assert sparse.intervals("chr1") == ((10, 20, 0.5), (100, 105, 2.0))
    assert sparse.intervals("chr2") == ((10, 20, 0.5), (30, 40, 2.0))
    sparse.close()


def test_failure_leaves_no_file(tmp_path: Path) -> None:
    with pytest.raises(KeyboardInterrupt), open_bigwigs({"x": tmp_path / "x.bigWig"}, CONTIGS):
        raise KeyboardInterrupt
    assert list(tmp_path.iterdir()) == []
