from __future__ import annotations

import gzip
import json
import shutil
from pathlib import Path

import numpy as np
import pandas as pd
import pyBigWig
import pysam
import pytest

from exprflow.errors import InputError
from exprflow.simulate import world as world_module
from exprflow.simulate.world import (
    COMPONENTS,
    MANIFEST_FILE,
    WorldManifest,
    component_rng,
    load_manifest,
    simulate_world,
)
from exprflow.tracking.fingerprint import code_version

CORE = (
    "fasta",
    "fasta_index",
    "vcf",
    "samples",
    "gtf",
    "gene_list",
    "expression",
    "eqtls",
    "truth",
)


@pytest.fixture(scope="module")
def twin(tmp_path_factory: pytest.TempPathFactory) -> WorldManifest:
    return simulate_world(tmp_path_factory.mktemp("b"), "tiny", 0, progress=False)


def _all_files(manifest: WorldManifest) -> list[str]:
    return sorted(f for files in manifest.components.values() for f in files)


def test_manifest_lists_every_file(world: WorldManifest) -> None:
    doc = json.loads((world.root / MANIFEST_FILE).read_text())
    assert doc["seed"] == 0 and doc["size"]["name"] == "tiny"
    assert list(doc["components"]) == list(COMPONENTS)
    on_disk = sorted(
        p.relative_to(world.root).as_posix()
        for p in world.root.rglob("*")
        if p.is_file() and not p.relative_to(world.root).as_posix().startswith(".done")
    )
    assert [*_all_files(world), MANIFEST_FILE] == sorted(on_disk)
    files = ("vcf_index", "roadmap_rpkm", "interactions", "sequences_bed", "mpra", "chip_metadata")
    for key in (*CORE, *files):
        assert world.path(key).is_file(), key
    for key in ("tracks", "chip", "sharpr", "sure"):
        assert world.path(key).is_dir(), key
    assert doc["code_version"] == world.code_version == code_version()
    assert load_manifest(world.root) == world


def test_same_seed_gives_identical_bytes(world: WorldManifest, twin: WorldManifest) -> None:
    assert _all_files(world) == _all_files(twin)
    for rel in _all_files(world):
        assert (world.root / rel).read_bytes() == (twin.root / rel).read_bytes(), rel


def test_other_seed_gives_other_world(world: WorldManifest, tmp_path: Path) -> None:
    other = simulate_world(tmp_path, "tiny", 1, progress=False)
    for key in ("fasta", "vcf", "gtf", "expression", "eqtls", "truth"):
        assert other.path(key).read_bytes() != world.path(key).read_bytes(), key


def test_every_file_reopens(world: WorldManifest) -> None:
    with pysam.FastaFile(str(world.path("fasta"))) as fa:
        assert list(fa.references) == ["chr1", "chr2", "chr3", "chr4"]
    with pysam.VariantFile(str(world.path("vcf"))) as vcf:
        assert sum(1 for _ in vcf.fetch("chr3", 0, 100_000)) > 10
    gtf = pd.read_csv(world.path("gtf"), sep="\t", comment="#", header=None)
    assert gtf.shape[1] == 9
    assert len(pd.read_csv(world.path("gene_list"), header=None)) == 24
    assert len(pd.read_csv(world.path("samples"), sep="\t")) == 40
    assert len(pd.read_csv(world.path("expression"), sep="\t")) == 24
    assert len(pd.read_csv(world.path("eqtls"), sep="\t")) > 0
    roadmap = pd.read_csv(world.path("roadmap_rpkm"), sep="\t")
    assert list(roadmap.columns[1:]) == ["E116", "E123", "E118"]
    assert len(pd.read_csv(world.path("interactions"), sep="\t")) > 0
    assert len(pd.read_csv(world.path("sequences_bed"), sep="\t", header=None)) > 0
    assert len(pd.read_csv(world.path("mpra"), sep="\t")) > 0
    bigwigs = [world.root / f for f in world.components["tracks"] if f.endswith(".bigWig")]
    assert bigwigs
    for path in bigwigs:
        bw = pyBigWig.open(str(path))
        assert bw.chroms() == {f"chr{i}": 400_000 for i in range(1, 5)}
        bw.close()


def test_truth_document(world: WorldManifest) -> None:
    truth = json.loads(world.path("truth").read_text())
    assert truth["seed"] == 0 and truth["lcl_cell_type"] == "E116"
    assert len(truth["causal_variants"]) == 12
    assert len(truth["gene_baseline_log2_rpkm"]) == 24
    assert set(truth["tf_activity"]["SPI1"]) == {"E116", "E123", "E118"}
    assert list(truth["components"]) == list(COMPONENTS[:-1])
    with pysam.FastaFile(str(world.path("fasta"))) as fa:
        for v in truth["causal_variants"]:
            assert fa.fetch(v["chrom"], v["pos"] - 1, v["pos"]) == v["ref"]  # pos is 1-based
        for s in truth["motif_sites"][:50]:
            assert fa.fetch(s["chrom"], s["start"], s["end"]) == s["sequence"]


def test_resume_recreates_only_the_missing_component(tmp_path: Path, world: WorldManifest) -> None:
    root = tmp_path / "w"
    shutil.copytree(world.root, root)
    before = {p: p.stat().st_mtime_ns for p in root.rglob("*") if p.is_file()}
    expression = root / world.files["expression"]
    expression.unlink()
    (root / ".done" / "expression.json").unlink()
    simulate_world(root, "tiny", 0, progress=False)
    assert expression.read_bytes() == world.path("expression").read_bytes()
    changed = {
        p.relative_to(root).as_posix()
        for p, mtime in before.items()
        if p.exists() and p.stat().st_mtime_ns != mtime
    }
    assert changed == {world.files["expression"], ".done/expression.json", MANIFEST_FILE}


def test_marker_of_other_code_is_not_reused(tmp_path: Path, world: WorldManifest) -> None:
    root = tmp_path / "w"
    shutil.copytree(world.root, root)
    marker = root / ".done" / "mpra.json"
    stale = json.loads(marker.read_text())
    assert stale["code_version"] == code_version()
    stale["code_version"] = "0.0.1+000000000000"
    marker.write_text(json.dumps(stale))
    mpra = root / world.files["mpra"]
    mpra.write_text("written by older code\n")
    kept = (root / ".done" / "genome.json").stat().st_mtime_ns
    simulate_world(root, "tiny", 0, progress=False)
    assert mpra.read_bytes() == world.path("mpra").read_bytes()
    assert json.loads(marker.read_text())["code_version"] == code_version()
    assert (root / ".done" / "genome.json").stat().st_mtime_ns == kept


def test_interrupted_build_resumes(
    tmp_path: Path, world: WorldManifest, monkeypatch: pytest.MonkeyPatch
) -> None:
    def killed(_: object) -> dict:
        raise KeyboardInterrupt

    monkeypatch.setitem(world_module._RUNNERS, "eqtls", killed)
    with pytest.raises(KeyboardInterrupt):
        simulate_world(tmp_path, "tiny", 0, progress=False)
    done = sorted(p.stem for p in (tmp_path / ".done").iterdir())
    assert done == sorted(["genome", "population", "annotation", "expression"])
    assert not [p for p in tmp_path.rglob("*") if "partial" in p.name]
    monkeypatch.undo()
    resumed = simulate_world(tmp_path, "tiny", 0, progress=False)
    for rel in _all_files(world):
        assert (resumed.root / rel).read_bytes() == (world.root / rel).read_bytes(), rel


def test_folder_of_another_world_is_refused(world: WorldManifest) -> None:
    with pytest.raises(InputError, match=r"world\.json: holds a world of size 'tiny' and seed 0"):
        simulate_world(world.root, "tiny", 5, progress=False)


def test_world_of_older_size_settings_names_the_settings(
    world: WorldManifest, tmp_path: Path
) -> None:
    shutil.copytree(world.root, tmp_path / "old")
    manifest = tmp_path / "old" / "world.json"
    doc = json.loads(manifest.read_text())
    del doc["size"]["sure_fragments"]
    manifest.write_text(json.dumps(doc))
    with pytest.raises(InputError, match=r"other size settings .*: sure_fragments differ.*delete"):
        simulate_world(tmp_path / "old", "tiny", 0, progress=False)


def test_bad_arguments(tmp_path: Path, world: WorldManifest) -> None:
    with pytest.raises(ValueError, match="unknown world size"):
        simulate_world(tmp_path, "huge", 0)
    with pytest.raises(ValueError, match="expected an integer ≥ 0"):
        simulate_world(tmp_path, "tiny", -1)
    with pytest.raises(InputError, match="no file recorded under 'genome'"):
        world.path("genome")
    with pytest.raises(InputError, match=r"no world\.json here"):
        load_manifest(tmp_path)
    (tmp_path / MANIFEST_FILE).write_text("{}")
    with pytest.raises(InputError, match="not a world manifest"):
        load_manifest(tmp_path)


def test_progress_bar(world: WorldManifest, capsys: pytest.CaptureFixture[str]) -> None:
    simulate_world(world.root, "tiny", 0, progress=True)
    assert "world tiny" in capsys.readouterr().err
    simulate_world(world.root, "tiny", 0, progress=False)
    assert capsys.readouterr().err == ""


def test_component_streams_are_fixed_and_independent() -> None:
    a = component_rng(3, "genome").random(4)
    assert np.array_equal(a, component_rng(3, "genome").random(4))
    assert not np.array_equal(a, component_rng(3, "population").random(4))
    assert not np.array_equal(a, component_rng(4, "genome").random(4))


def test_gzip_outputs_are_plain_gzip(world: WorldManifest) -> None:
    for key in ("expression", "eqtls"):
        assert gzip.decompress(world.path(key).read_bytes()).count(b"\n") > 1


def test_genome_package_readers_accept_the_world(world: WorldManifest) -> None:
    from exprflow.genome.annotation import read_gene_list, read_gtf
    from exprflow.genome.fasta import Genome
    from exprflow.genome.vcf import PhasedVCF, read_sites

    with Genome(world.path("fasta")) as genome:
        sites = read_sites(world.path("vcf"), genome)  # checks every REF against the FASTA
        with PhasedVCF(world.path("vcf"), genome) as vcf:
            dosages = vcf.dosages("chr1", 0, 400_000)
    assert (
        len(sites)
        == json.loads(world.path("truth").read_text())["components"]["population"]["n_variants"]
    )
    assert dosages.values.shape[1] == 40 and set(np.unique(dosages.values)) <= {0, 1, 2}
    gtf = read_gtf(world.path("gtf"))
    genes = read_gene_list(world.path("gene_list"))
    assert len(gtf) == len(genes) == 24
