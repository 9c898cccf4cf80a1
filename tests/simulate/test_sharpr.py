from __future__ import annotations

import json
from pathlib import Path

import h5py
import numpy as np
import pysam
import pytest

from exprflow.errors import InputError
from exprflow.simulate._genomic_activity import assay_cells
from exprflow.simulate.genes import lay_out_world
from exprflow.simulate.layout import CellType, WorldLayout
from exprflow.simulate.sharpr import SHARPR_OUTPUTS, TILE_LENGTH, write_sharpr
from exprflow.simulate.world import WorldManifest, component_rng


@pytest.fixture(scope="module")
def layout(world: WorldManifest) -> WorldLayout:
    return lay_out_world(world.size, component_rng(world.seed, "layout"))


@pytest.fixture(scope="module")
def truth(world: WorldManifest) -> dict:
    return json.loads(world.path("truth").read_text())["components"]["sharpr"]


def _read(world: WorldManifest, split: str) -> tuple[np.ndarray, np.ndarray]:
    with h5py.File(world.path("sharpr") / f"{split}.hdf5", "r") as h5:
        assert sorted(h5) == ["X", "Y"] and list(h5["X"]) == ["sequence"]
        assert list(h5["Y"]) == ["output"]
        return h5["X/sequence"][:], h5["Y/output"][:]


def test_output_names_are_the_published_ones() -> None:
    assert SHARPR_OUTPUTS == (
        "k562_minp_rep1",
        "k562_minp_rep2",
        "k562_minp_avg",
        "k562_sv40p_rep1",
        "k562_sv40p_rep2",
        "k562_sv40p_avg",
        "hepg2_minp_rep1",
        "hepg2_minp_rep2",
        "hepg2_minp_avg",
        "hepg2_sv40p_rep1",
        "hepg2_sv40p_rep2",
        "hepg2_sv40p_avg",
    )


def test_files_layout_and_splits(world: WorldManifest, truth: dict) -> None:
    assert sorted(p.name for p in world.path("sharpr").iterdir()) == [
        "test.hdf5",
        "train.hdf5",
        "valid.hdf5",
    ]
    assert truth["cells"] == {"k562": "E123", "hepg2": "E118"}
    assert truth["contigs"] == {"train": ["chr1", "chr2"], "valid": ["chr3"], "test": ["chr4"]}
    total = 0
    with pysam.FastaFile(str(world.path("fasta"))) as fa:
        for split in ("train", "valid", "test"):
            x, y = _read(world, split)
            tiles = truth["tiles"][split]
            n = len(tiles["start"])
            assert x.shape == (n, TILE_LENGTH, 4) and x.dtype == np.float32
            assert y.shape == (n, 12) and y.dtype == np.float32
            assert (x.sum(axis=2) == 1).all() and set(np.unique(x)) == {0.0, 1.0}
            assert set(tiles["chrom"]) <= set(truth["contigs"][split])
            for i in range(0, n, 25):
                seq = fa.fetch(tiles["chrom"][i], tiles["start"][i], tiles["start"][i] + 145)
                assert "".join("ACGT"[k] for k in x[i].argmax(axis=1)) == seq
            for k in (0, 3, 6, 9):
                assert np.allclose(y[:, k + 2], y[:, k : k + 2].mean(axis=1), atol=1e-6)
            total += n
    assert total == world.size.sharpr_tiles
    regions = [r for t in truth["tiles"].values() for r in t["region"]]
    assert set(regions) == {"promoter", "enhancer", "background"}


def test_activity_tracks_the_planted_sites(
    world: WorldManifest, truth: dict, layout: WorldLayout
) -> None:
    _, y = _read(world, "train")
    tiles = truth["tiles"]["train"]
    active = {tf for tf, a in layout.tf_activity["E123"].items() if a >= 0.6}
    has_site = np.array(
        [
            any(
                s.chrom == c and s.start >= start and s.start + len(s.sequence) <= start + 145
                for s in layout.sites
                if s.tf in active
            )
            for c, start in zip(tiles["chrom"], tiles["start"], strict=True)
        ]
    )
    k562 = y[:, SHARPR_OUTPUTS.index("k562_minp_avg")]
    assert 40 < has_site.sum() < len(has_site) - 40
    assert k562[has_site].mean() > k562[~has_site].mean() + 0.8
    for cell in ("k562", "hepg2"):
        latent = np.asarray(tiles["activity"][cell])
        minp = y[:, SHARPR_OUTPUTS.index(f"{cell}_minp_avg")]
        sv40p = y[:, SHARPR_OUTPUTS.index(f"{cell}_sv40p_avg")]
        assert np.corrcoef(latent, minp)[0, 1] > 0.75
        assert np.corrcoef(latent, sv40p)[0, 1] > 0.5
        assert sv40p.mean() > minp.mean() + 0.5 and sv40p.std() < minp.std()
    other = np.asarray(tiles["activity"]["k562"])
    hepg2 = y[:, SHARPR_OUTPUTS.index("hepg2_minp_avg")]
    assert (
        np.corrcoef(np.asarray(tiles["activity"]["hepg2"]), hepg2)[0, 1]
        > np.corrcoef(other, hepg2)[0, 1]
    )


def test_same_seed_gives_identical_files(
    tmp_path: Path, world: WorldManifest, layout: WorldLayout, truth: dict
) -> None:
    again = write_sharpr(
        tmp_path, layout, world.path("fasta"), world.size, component_rng(world.seed, "sharpr")
    )
    assert json.loads(json.dumps(again)) == truth
    for rel in truth["files"].values():
        assert (tmp_path / rel).read_bytes() == (world.root / rel).read_bytes(), rel


def test_cells_fall_back_to_the_first_unused(layout: WorldLayout) -> None:
    def cells(*eids: str) -> dict[str, str]:
        return assay_cells(
            WorldLayout(layout.contigs, [], cell_types=[CellType(e, e) for e in eids])
        )

    assert cells("E116", "E118", "E123") == {"K562": "E123", "HepG2": "E118"}
    assert cells("E116", "E003") == {"K562": "E116", "HepG2": "E003"}
    assert cells("E118", "E116") == {"K562": "E116", "HepG2": "E118"}
    with pytest.raises(InputError, match="1 cell type"):
        cells("E116")


def test_too_few_contigs_or_a_foreign_fasta(
    tmp_path: Path, world: WorldManifest, layout: WorldLayout
) -> None:
    two = WorldLayout({"chr1": 400_000, "chr2": 400_000}, layout.genes)
    with pytest.raises(InputError, match="Sharpr tiles need 3"):
        write_sharpr(tmp_path, two, world.path("fasta"), world.size, np.random.default_rng(0))
    fasta = tmp_path / "other.fa"
    fasta.write_text(">chr1\nACGT\n")
    pysam.faidx(str(fasta))
    with pytest.raises(InputError, match="do not match the layout"):
        write_sharpr(tmp_path, layout, fasta, world.size, np.random.default_rng(0))
