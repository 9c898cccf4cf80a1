"""The work folder of an extraction: finished blocks of regions, shared by every shard.

A block is one batch of consecutive regions, written as its own small HDF5 file in the
embeddings layout (:mod:`~exprflow.embedding.layout`) under a temporary name and renamed
when complete: ``blocks/r<first>-<stop>.h5`` holds regions ``first … stop - 1`` of the
region table. A killed run leaves finished blocks and at most a temporary file, which is
ignored and overwritten; the next run (or another shard) computes only the regions no
block holds, so nothing is lost and nothing recomputed. ``manifest.json`` records what
the folder is for (region count, shape, deflate level, the key document and the merged
file's attributes); opening a folder made for something else is refused. ``regions.bed``
is the region table (``sequences.bed`` layout), so a merge needs nothing but the folder;
``merged.json`` records where the merged file went once it exists.

Chunks are compressed on a thread pool (:func:`~exprflow.embedding.layout.encode_chunk`;
zlib releases the GIL) and stored with ``write_direct_chunk``, so writing keeps up with
a GPU.
"""

from __future__ import annotations

import fcntl
import json
import re
from collections.abc import Iterator, Mapping
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import h5py
import numpy as np
import pandas as pd

from exprflow.atomic import atomic_path
from exprflow.data.regions import COLUMNS, read_regions
from exprflow.embedding.layout import DATASET, create_embeddings, encode_chunk
from exprflow.errors import InputError

__all__ = ["MANIFEST", "Block", "WorkFolder"]

#: The work folder's description.
MANIFEST = "manifest.json"
_REGIONS = "regions.bed"
_MERGED = "merged.json"
_BLOCKS = "blocks"
_NAME = re.compile(r"^r(\d{9})-(\d{9})\.h5$")


@dataclass(frozen=True)
class Block:
    """A finished block: regions ``first … stop - 1`` in ``path``."""

    first: int
    stop: int
    path: Path


class WorkFolder:
    """A work folder for one extraction (see the module docstring).

    Parameters
    ----------
    root : Path
        The folder; created when missing.
    manifest : mapping
        ``n_regions``, ``bins``, ``channels``, ``level``, ``key`` and ``attributes``
        (JSON-able); must equal the recorded one when the folder exists.
    """

    def __init__(self, root: Path, manifest: Mapping[str, Any]) -> None:
        self.root = Path(root)
        self.manifest = dict(manifest)
        self.n_regions = int(manifest["n_regions"])
        self.shape = (int(manifest["bins"]), int(manifest["channels"]))
        self.level = int(manifest["level"])
        self.attributes: dict[str, Any] = dict(manifest.get("attributes", {}))
        self._check_or_write_manifest()

    @classmethod
    def existing(cls, root: Path) -> WorkFolder:
        """Open a work folder made earlier, from its manifest."""
        path = Path(root) / MANIFEST
        if not path.is_file():
            raise InputError(
                root,
                f"is not an embed_basenji2 work folder (no {MANIFEST}).",
                fix="pass the work_dir that embed_basenji2 recorded on its run.",
            )
        return cls(Path(root), json.loads(path.read_text()))

    def _check_or_write_manifest(self) -> None:
        path = self.root / MANIFEST
        wanted = json.loads(json.dumps(self.manifest, sort_keys=True))
        if path.exists():
            found = json.loads(path.read_text())
            if found != wanted:
                changed = sorted(
                    k for k in set(found) | set(wanted) if found.get(k) != wanted.get(k)
                )
                raise InputError(
                    path,
                    f"this work folder was made for another extraction (differs in {changed}).",
                    fix="pass another work_dir, or delete this folder to start over.",
                )
            return
        with atomic_path(path) as tmp:
            tmp.write_text(json.dumps(wanted, indent=1, sort_keys=True))

    def save_regions(self, regions: pd.DataFrame) -> None:
        """Store the region table in the folder (once; the key already pins its content)."""
        path = self.root / _REGIONS
        if not path.exists():
            with atomic_path(path) as tmp:
                regions[list(COLUMNS)].to_csv(tmp, sep="\t", header=False, index=False)

    def load_regions(self) -> pd.DataFrame:
        """The region table stored by :meth:`save_regions`."""
        return read_regions(self.root / _REGIONS)

    @property
    def merged(self) -> dict[str, Any] | None:
        """``{"uri", "size"}`` of the merged file once written, else None."""
        path = self.root / _MERGED
        return json.loads(path.read_text()) if path.exists() else None

    def record_merged(self, uri: str, size: int) -> None:
        """Record where the merged file went."""
        with atomic_path(self.root / _MERGED) as tmp:
            tmp.write_text(json.dumps({"uri": uri, "size": size}))

    @property
    def blocks_dir(self) -> Path:
        """Where the blocks are."""
        return self.root / _BLOCKS

    def blocks(self) -> list[Block]:
        """The finished blocks, by first region (temporary files ignored)."""
        if not self.blocks_dir.is_dir():
            return []
        found = []
        for path in self.blocks_dir.iterdir():
            match = _NAME.match(path.name)
            if match:
                found.append(Block(int(match[1]), int(match[2]), path))
        return sorted(found, key=lambda block: block.first)

    def done(self) -> np.ndarray:
        """Boolean mask over the regions: True where a finished block holds the region."""
        mask = np.zeros(self.n_regions, dtype=bool)
        for block in self.blocks():
            mask[block.first : block.stop] = True
        return mask

    def pending(self, first: int, stop: int) -> list[int]:
        """Regions of ``first … stop - 1`` that no finished block holds, in order."""
        return [int(i) for i in np.flatnonzero(~self.done()[first:stop]) + first]

    def write_block(self, first: int, values: np.ndarray, encoder: ThreadPoolExecutor) -> Block:
        """Compress and store consecutive regions ``first …`` as one block, atomically.

        Parameters
        ----------
        first : int
            Index of the block's first region.
        values : numpy.ndarray
            ``(k, bins, channels)`` embeddings (cast to float16).
        encoder : ThreadPoolExecutor
            Threads that compress the chunks.

        Returns
        -------
        Block
        """
        if values.shape[1:] != self.shape:
            raise ValueError(f"block shape {values.shape[1:]} is not the folder's {self.shape}")
        stop = first + len(values)
        chunks = list(encoder.map(lambda chunk: encode_chunk(chunk, self.level), values))
        dest = self.blocks_dir / f"r{first:09d}-{stop:09d}.h5"
        with atomic_path(dest) as tmp, h5py.File(tmp, "w", libver="latest") as handle:
            dataset = create_embeddings(handle, len(values), *self.shape, self.level)
            for i, data in enumerate(chunks):
                dataset.id.write_direct_chunk((i, 0, 0), data)
            handle.attrs["first"] = first
        return Block(first, stop, dest)

    def read_chunks(self, block: Block) -> Iterator[tuple[int, int, bytes]]:
        """Yield ``(region, filter_mask, compressed chunk)`` for each region of ``block``."""
        with h5py.File(block.path, "r") as handle:
            dataset = handle[DATASET]
            for i in range(block.stop - block.first):
                mask, data = dataset.id.read_direct_chunk((i, 0, 0))
                yield block.first + i, mask, data

    @contextmanager
    def lock(self) -> Iterator[None]:
        """Hold an exclusive lock on the folder (``flock``), e.g. while merging it."""
        with open(self.root / ".lock", "a") as handle:
            fcntl.flock(handle, fcntl.LOCK_EX)
            try:
                yield
            finally:
                fcntl.flock(handle, fcntl.LOCK_UN)

    def remove_blocks(self) -> None:
        """Delete every block file, and the then empty blocks folder (after a merge)."""
        for block in self.blocks():
            block.path.unlink()
        if self.blocks_dir.is_dir() and not any(self.blocks_dir.iterdir()):
            self.blocks_dir.rmdir()
