"""Merge a work folder's blocks into one embeddings file, locally or on S3.

The merge copies each region's compressed chunk as it is (``read_direct_chunk`` →
``write_direct_chunk``): no decompression, no recompression, so it runs at disk speed.
It refuses, before writing anything, while a region has no finished block (naming the
first missing region and how many are missing). The file is written under a temporary
name and renamed (:func:`merge_once` under the work folder's lock, so concurrent shards
merge once); an ``s3://`` destination is written locally in the work folder first,
uploaded (multipart above the part size; an S3 object appears only once complete) and
the local copy removed.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import h5py
import numpy as np
import pandas as pd
from botocore.exceptions import ClientError

from exprflow.atomic import atomic_path
from exprflow.embedding.blocks import WorkFolder
from exprflow.embedding.layout import create_embeddings, set_attributes, write_region_table
from exprflow.errors import InputError
from exprflow.storage.s3 import error_code, parse_s3_uri, s3_client
from exprflow.storage.upload import upload_file

__all__ = ["MERGED_FILE", "MergeResult", "merge_blocks", "merge_once", "output_exists"]

log = logging.getLogger(__name__)

#: The merged file's name in the work folder (the default output).
MERGED_FILE = "embeddings.h5"


@dataclass(frozen=True)
class MergeResult:
    """Where the merged file went and its size."""

    uri: str
    n_regions: int
    size: int


def _is_s3(uri: str) -> bool:
    return uri.startswith("s3://")


def output_exists(uri: str) -> bool:
    """Whether the merged file at ``uri`` (local path or ``s3://``) is there."""
    if not _is_s3(uri):
        return Path(uri).is_file()
    bucket, key = parse_s3_uri(uri)
    try:
        s3_client().head_object(Bucket=bucket, Key=key)
    except ClientError as error:
        if error_code(error) in ("404", "NoSuchKey", "NotFound"):
            return False
        raise
    return True


def _check_complete(work: WorkFolder, regions: pd.DataFrame) -> None:
    """Refuse while any region has no finished block."""
    missing = np.flatnonzero(~work.done())
    if missing.size:
        row = regions.iloc[int(missing[0])]
        raise InputError(
            work.root,
            f"{missing.size} of {work.n_regions} regions have no finished block, the first "
            f"region {int(missing[0])} ({row.chrom}:{row.start}-{row.end}).",
            fix="run (or resume) the embed_basenji2 shards that hold them, then merge again.",
        )


def _write_merged(
    work: WorkFolder, regions: pd.DataFrame, dest: Path, attributes: Mapping[str, Any]
) -> None:
    """Write the merged file at ``dest`` (atomically) from the blocks."""
    with atomic_path(dest) as tmp, h5py.File(tmp, "w", libver="latest") as handle:
        write_region_table(handle, regions)
        set_attributes(handle, attributes)
        dataset = create_embeddings(handle, work.n_regions, *work.shape, work.level)
        written = np.zeros(work.n_regions, dtype=bool)
        for block in work.blocks():
            for region, mask, data in work.read_chunks(block):
                if not written[region]:
                    dataset.id.write_direct_chunk((region, 0, 0), data, mask)
                    written[region] = True


def merge_blocks(work: WorkFolder, output: str, *, part_size: int = 64 << 20) -> MergeResult:
    """Merge every block of ``work`` into one embeddings file; record it in the folder.

    The region table and the file attributes (model config, weights, …) come from the
    work folder (:meth:`WorkFolder.load_regions`, :attr:`WorkFolder.attributes`).

    Parameters
    ----------
    work : WorkFolder
        The finished work folder.
    output : str
        Local path, or ``s3://bucket/key``.
    part_size : int, optional
        Multipart part size for an S3 upload. Default 64 MiB.

    Returns
    -------
    MergeResult
    """
    regions = work.load_regions()
    if len(regions) != work.n_regions:
        raise InputError(
            work.root / "manifest.json",
            f"the folder holds {work.n_regions} regions, the region table {len(regions)}.",
            fix="merge with the region table the extraction used.",
        )
    _check_complete(work, regions)
    local = work.root / MERGED_FILE if _is_s3(output) else Path(output)
    _write_merged(work, regions, local, work.attributes)
    size = local.stat().st_size
    if _is_s3(output):
        result = upload_file(local, output, part_size=part_size)
        log.info("uploaded %s to %s (%d parts)", local, output, result.parts)
        local.unlink()
    work.record_merged(str(output), size)
    log.info("merged %d regions into %s (%.1f MB)", work.n_regions, output, size / 1e6)
    return MergeResult(str(output), work.n_regions, size)


def merge_once(
    work: WorkFolder, output: str, *, keep_blocks: bool, part_size: int = 64 << 20
) -> MergeResult:
    """Merge ``work`` into ``output`` unless that is done; drop the blocks unless kept.

    Holds the folder's lock, so two shards finishing together merge once: the second
    finds the first's file (recorded in ``merged.json`` and present) and returns it.

    Parameters
    ----------
    work : WorkFolder
        The finished work folder.
    output : str
        Local path, or ``s3://bucket/key``.
    keep_blocks : bool
        Keep the block files after the merge.
    part_size : int, optional
        Multipart part size for an S3 upload. Default 64 MiB.

    Returns
    -------
    MergeResult
    """
    with work.lock():
        merged = work.merged
        if merged is not None and output_exists(merged["uri"]):
            log.info("already merged into %s", merged["uri"])
            return MergeResult(merged["uri"], work.n_regions, int(merged["size"]))
        result = merge_blocks(work, output, part_size=part_size)
        if not keep_blocks:
            work.remove_blocks()
        return result
