"""Build a whole synthetic world on disk, resumably, and describe it in ``world.json``.

:func:`simulate_world` runs the components in order — genome, population, annotation,
expression, eqtls, tracks, interactions, sequences_bed, mpra, chip, sharpr, sure, truth —
each with its own random stream ``default_rng(SeedSequence([seed, crc32(component)]))``,
so adding or changing one component never changes another's files. Every component writes atomically
and then records ``.done/<component>.json`` (size, seed, code version, the files it
wrote, its truth fragment); a rerun skips components whose marker matches, so an
interrupted run resumes where it stopped, while changed code (another
:func:`~exprflow.tracking.fingerprint.code_version`: package version plus a digest of
its sources) rebuilds every component. The layout, the msprime population and the causal
plan are recomputed (deterministically) only when a component that needs them runs.

``world.json`` holds the size, the seed, the code version, every written file
(relative paths, per component) and stable keys for the main ones (``fasta``, ``vcf``,
``gtf``, ``gene_list``, ``samples``, ``expression``, ``eqtls``, ``roadmap_rpkm``,
``tracks``, ``interactions``, ``sequences_bed``, ``mpra``, the folders ``chip``,
``sharpr`` and ``sure``, ``truth``, …);
:func:`load_manifest` reads it back as a :class:`WorldManifest`.
"""

from __future__ import annotations

import json
import logging
import time
import zlib
from collections.abc import Callable
from dataclasses import dataclass, field
from functools import cached_property
from pathlib import Path
from typing import Any

import numpy as np
from tqdm.auto import tqdm

from exprflow.atomic import atomic_path
from exprflow.errors import InputError
from exprflow.simulate.annotation_io import write_gene_list, write_gtf
from exprflow.simulate.causal import CausalPlan, plan_causal
from exprflow.simulate.chip import CHIP_DIR, METADATA_FILE, write_chip
from exprflow.simulate.config import WorldSize, world_size
from exprflow.simulate.eqtl import scan_cis_eqtls, write_eqtls
from exprflow.simulate.expression import simulate_libraries, write_geuvadis_rpkm
from exprflow.simulate.genes import lay_out_world
from exprflow.simulate.interactions import INTERACTIONS_FILE, write_interactions
from exprflow.simulate.layout import WorldLayout
from exprflow.simulate.mpra import MPRA_FILE, write_mpra
from exprflow.simulate.population import Haplotypes, simulate_population, write_samples, write_vcf
from exprflow.simulate.regions import SEQUENCES_FILE, write_sequences_bed
from exprflow.simulate.sequence import write_genome
from exprflow.simulate.sharpr import SHARPR_DIR, write_sharpr
from exprflow.simulate.sure import SURE_DIR, write_sure
from exprflow.simulate.tracks import EXPRESSION_FILE, write_tracks
from exprflow.simulate.truth import build_truth, json_default, write_truth
from exprflow.tracking.fingerprint import code_version

__all__ = [
    "COMPONENTS",
    "FILE_KEYS",
    "MANIFEST_FILE",
    "WorldManifest",
    "component_rng",
    "load_manifest",
    "simulate_world",
]

logger = logging.getLogger(__name__)

MANIFEST_FILE = "world.json"
_DONE_DIR = ".done"
_FASTA = "genome/genome.fa"
_VCF = "variants/population.vcf.gz"

#: Component → stable key → relative path of its main outputs.
FILE_KEYS: dict[str, dict[str, str]] = {
    "genome": {"fasta": _FASTA, "fasta_index": f"{_FASTA}.fai"},
    "population": {"vcf": _VCF, "vcf_index": f"{_VCF}.tbi", "samples": "variants/samples.tsv"},
    "annotation": {"gtf": "annotation/genes.gtf", "gene_list": "annotation/gene_list.csv"},
    "expression": {"expression": "expression/GD660.GeneQuantRPKM.txt.gz"},
    "eqtls": {"eqtls": "expression/EUR373.gene.cis.FDR5.all.rs137.txt.gz"},
    "tracks": {"tracks": "tracks", "roadmap_rpkm": EXPRESSION_FILE},
    "interactions": {"interactions": INTERACTIONS_FILE},
    "sequences_bed": {"sequences_bed": SEQUENCES_FILE},
    "mpra": {"mpra": MPRA_FILE},
    "chip": {"chip": CHIP_DIR, "chip_metadata": METADATA_FILE},
    "sharpr": {"sharpr": SHARPR_DIR},
    "sure": {"sure": SURE_DIR},
    "truth": {"truth": "truth.json"},
}
#: Components in the order they run.
COMPONENTS: tuple[str, ...] = tuple(FILE_KEYS)


def component_rng(seed: int, component: str) -> np.random.Generator:
    """The random stream of one component: ``SeedSequence([seed, crc32(component)])``.

    Parameters
    ----------
    seed : int
        World seed (≥ 0).
    component : str
        Component tag, e.g. ``"genome"``.

    Returns
    -------
    numpy.random.Generator
    """
    return np.random.default_rng(np.random.SeedSequence([seed, zlib.crc32(component.encode())]))


@dataclass(frozen=True)
class WorldManifest:
    """What a world folder holds, as recorded in ``world.json``.

    Attributes
    ----------
    root : Path
        The world folder.
    size : WorldSize
        Its size.
    seed : int
        Its seed.
    code_version : str
        :func:`~exprflow.tracking.fingerprint.code_version` of the code that wrote it.
    files : dict[str, str]
        Stable key → path relative to ``root`` (see :data:`FILE_KEYS`).
    components : dict[str, list[str]]
        Component → relative paths of every file it wrote.
    """

    root: Path
    size: WorldSize
    seed: int
    code_version: str
    files: dict[str, str] = field(default_factory=dict)
    components: dict[str, list[str]] = field(default_factory=dict)

    def path(self, key: str) -> Path:
        """Absolute path of the file (or folder) recorded under ``key``."""
        if key not in self.files:
            raise InputError(
                self.root / MANIFEST_FILE,
                f"no file recorded under {key!r}; known keys: {sorted(self.files)}",
                fix="use one of the known keys, or rebuild the world",
            )
        return self.root / self.files[key]

    def to_json(self) -> dict[str, Any]:
        """The ``world.json`` document."""
        return {
            "size": self.size.to_dict(),
            "seed": self.seed,
            "code_version": self.code_version,
            "files": self.files,
            "components": self.components,
        }


class _World:
    """A world being built: paths, random streams and the lazily computed shared state."""

    def __init__(self, root: Path, size: WorldSize, seed: int) -> None:
        self.root, self.size, self.seed = root, size, seed

    def rng(self, component: str) -> np.random.Generator:
        return component_rng(self.seed, component)

    def path(self, key: str) -> Path:
        return self.root / next(k[key] for k in FILE_KEYS.values() if key in k)

    @cached_property
    def layout(self) -> WorldLayout:
        return lay_out_world(self.size, self.rng("layout"))

    @cached_property
    def population(self) -> Haplotypes:
        return simulate_population(
            self.layout.contigs, self.size.n_individuals, self.rng("population")
        )

    @cached_property
    def plan(self) -> CausalPlan:
        return plan_causal(
            self.layout, self.population, self.size.causal_fraction, self.rng("causal")
        )

    def marker(self, component: str) -> Path:
        return self.root / _DONE_DIR / f"{component}.json"


def _genome(w: _World) -> dict[str, Any]:
    return write_genome(w.path("fasta"), w.layout, w.rng("genome"), edits=w.plan.edits)


def _population(w: _World) -> dict[str, Any]:
    haps = w.plan.haplotypes
    write_vcf(w.path("vcf"), haps, w.path("fasta"))
    write_samples(w.path("samples"), haps.samples)
    return {"n_variants": len(haps.pos), "n_individuals": len(haps.samples)}


def _annotation(w: _World) -> dict[str, Any]:
    write_gtf(w.path("gtf"), w.layout, w.rng("annotation"))
    write_gene_list(w.path("gene_list"), w.layout)
    return {"n_genes": len(w.layout.genes)}


def _expression(w: _World) -> dict[str, Any]:
    libraries = simulate_libraries(w.layout, w.plan, w.rng("expression"))
    write_geuvadis_rpkm(w.path("expression"), w.layout, libraries)
    return {"libraries": list(libraries.columns)}


def _eqtls(w: _World) -> dict[str, Any]:
    table = scan_cis_eqtls(w.path("vcf"), w.path("expression"))
    write_eqtls(w.path("eqtls"), table)
    return {"n_pairs": len(table), "n_genes": int(table["GENE_ID"].nunique())}


def _truth(w: _World) -> dict[str, Any]:
    fragments = {c: _read_marker(w, c)["truth"] for c in COMPONENTS if c != "truth"}
    truth = build_truth(w.size, w.seed, code_version(), w.layout, w.plan, fragments)
    write_truth(w.path("truth"), truth)
    return {}


_RUNNERS: dict[str, Callable[[_World], dict[str, Any]]] = {
    "genome": _genome,
    "population": _population,
    "annotation": _annotation,
    "expression": _expression,
    "eqtls": _eqtls,
    "tracks": lambda w: write_tracks(w.root, w.layout, w.path("fasta"), w.size, w.rng("tracks")),
    "interactions": lambda w: write_interactions(w.root, w.layout, w.rng("interactions")),
    "sequences_bed": lambda w: write_sequences_bed(
        w.root, w.layout.contigs, w.size, w.rng("sequences_bed")
    ),
    "mpra": lambda w: write_mpra(w.root, w.size, w.rng("mpra")),
    "chip": lambda w: write_chip(w.root, w.layout, w.rng("chip")),
    "sharpr": lambda w: write_sharpr(w.root, w.layout, w.path("fasta"), w.size, w.rng("sharpr")),
    "sure": lambda w: write_sure(w.root, w.layout, w.plan, w.path("fasta"), w.size, w.rng("sure")),
    "truth": _truth,
}


def _snapshot(root: Path) -> dict[str, tuple[int, int]]:
    """Relative path → (mtime_ns, size) of every visible file, ``.done`` and world.json aside."""
    found = {}
    for path in root.rglob("*"):
        rel = path.relative_to(root)
        hidden = any(part.startswith(".") for part in rel.parts)
        if path.is_file() and not hidden and rel.as_posix() != MANIFEST_FILE:
            stat = path.stat()
            found[rel.as_posix()] = (stat.st_mtime_ns, stat.st_size)
    return found


def _read_marker(w: _World, component: str) -> dict[str, Any]:
    return json.loads(w.marker(component).read_text())


def _is_done(w: _World, component: str) -> bool:
    """Whether ``component`` finished for this size, seed and code version, its files intact."""
    try:
        marker = _read_marker(w, component)
    except (OSError, ValueError):
        return False
    same = (marker.get("size"), marker.get("seed"), marker.get("code_version")) == (
        w.size.to_dict(),
        w.seed,
        code_version(),
    )
    return same and all((w.root / f).is_file() for f in marker.get("files", []))


def _run_component(w: _World, component: str) -> None:
    """Run one component and record its done-marker (files written + truth fragment)."""
    started = time.perf_counter()
    before = _snapshot(w.root)
    fragment = _RUNNERS[component](w)
    after = _snapshot(w.root)
    written = sorted(f for f, stamp in after.items() if before.get(f) != stamp)
    marker = {
        "component": component,
        "size": w.size.to_dict(),
        "seed": w.seed,
        "code_version": code_version(),
        "files": written,
        "truth": fragment,
    }
    with atomic_path(w.marker(component)) as tmp:
        tmp.write_text(json.dumps(marker, indent=1, default=json_default) + "\n")
    logger.info(
        "world component %s: %d files in %.1f s",
        component,
        len(written),
        time.perf_counter() - started,
    )


def _check_same_world(root: Path, size: WorldSize, seed: int) -> None:
    """Refuse a folder that already holds a world of another size or seed."""
    manifest = root / MANIFEST_FILE
    if not manifest.is_file():
        return
    doc = json.loads(manifest.read_text())
    if (doc.get("size"), doc.get("seed")) == (size.to_dict(), seed):
        return
    old = doc.get("size", {})
    if (old.get("name"), doc.get("seed")) == (size.name, seed):
        changed = sorted(k for k, v in size.to_dict().items() if old.get(k) != v)
        raise InputError(
            manifest,
            f"holds a world of size {size.name!r} and seed {seed} written with other size "
            f"settings (an older exprflow): {', '.join(changed)} differ.",
            fix="delete the folder (the world is rebuilt in seconds to minutes), or write "
            "the new world to an empty folder.",
        )
    raise InputError(
        manifest,
        f"holds a world of size {old.get('name')!r} and seed {doc.get('seed')}, "
        f"not size {size.name!r} and seed {seed}",
        fix="write the new world to an empty folder",
    )


def simulate_world(
    out_dir: str | Path, size: str | WorldSize, seed: int, progress: bool = True
) -> WorldManifest:
    """Build (or finish building) a synthetic world in ``out_dir``.

    Parameters
    ----------
    out_dir : str or Path
        World folder; created if missing. An interrupted build there is resumed.
    size : str or WorldSize
        ``"tiny"``, ``"demo"``, ``"bench"`` or a custom :class:`WorldSize`.
    seed : int
        Seed (≥ 0); the same seed and size give byte-identical files.
    progress : bool
        Show a tqdm bar over the components. Default is True.

    Returns
    -------
    WorldManifest
        Also written to ``out_dir/world.json``.
    """
    size = world_size(size) if isinstance(size, str) else size
    if not isinstance(seed, int) or isinstance(seed, bool) or seed < 0:
        raise ValueError(f"seed={seed!r}; expected an integer ≥ 0")
    root = Path(out_dir)
    root.mkdir(parents=True, exist_ok=True)
    _check_same_world(root, size, seed)
    world = _World(root, size, seed)
    with tqdm(COMPONENTS, desc=f"world {size.name}", unit="component", disable=not progress) as bar:
        for component in bar:
            bar.set_postfix_str(component)
            if not _is_done(world, component):
                _run_component(world, component)
    components = {c: _read_marker(world, c)["files"] for c in COMPONENTS}
    files = {key: rel for keys in FILE_KEYS.values() for key, rel in keys.items()}
    manifest = WorldManifest(root, size, seed, code_version(), files, components)
    with atomic_path(root / MANIFEST_FILE) as tmp:
        tmp.write_text(json.dumps(manifest.to_json(), indent=1) + "\n")
    return manifest


def load_manifest(world_dir: str | Path) -> WorldManifest:
    """Read ``world.json`` of a world folder.

    Parameters
    ----------
    world_dir : str or Path
        Folder written by :func:`simulate_world`.

    Returns
    -------
    WorldManifest
    """
    root = Path(world_dir)
    path = root / MANIFEST_FILE
    try:
        doc = json.loads(path.read_text())
        return WorldManifest(
            root,
            WorldSize(**doc["size"]),
            int(doc["seed"]),
            str(doc["code_version"]),
            dict(doc["files"]),
            {k: list(v) for k, v in doc["components"].items()},
        )
    except FileNotFoundError:
        raise InputError(
            path, "no world.json here", fix="run simulate_world() on this folder first"
        ) from None
    except (ValueError, KeyError, TypeError) as err:
        raise InputError(
            path, f"not a world manifest ({err})", fix="rebuild the world with simulate_world()"
        ) from None
