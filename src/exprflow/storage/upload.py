"""Multipart upload of a finished local file to ``s3://bucket/key``.

Large step outputs (the Basenji2 embeddings, a chunked HDF5 of ~105 GB) are written locally,
then sent up in parts with boto3's managed transfer. ``MLFLOW_S3_UPLOAD_EXTRA_ARGS`` (a JSON
object of boto3 upload arguments, e.g. server-side encryption) applies as for MLflow's own
uploads; the client is :func:`exprflow.storage.s3.s3_client`.
"""

from __future__ import annotations

import json
import logging
import math
import os
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from boto3.exceptions import S3UploadFailedError
from boto3.s3.transfer import S3Transfer, TransferConfig
from botocore.exceptions import BotoCoreError, ClientError
from s3transfer.utils import ChunksizeAdjuster

from exprflow.errors import InputError
from exprflow.storage.s3 import ENVIRONMENT, parse_s3_uri, s3_client, s3_error

__all__ = ["DEFAULT_PART_SIZE", "MIN_PART_SIZE", "UploadResult", "upload_file"]

log = logging.getLogger(__name__)

MiB = 1024 * 1024
#: S3's smallest part (every part but the last must be at least this big).
MIN_PART_SIZE = 5 * MiB
DEFAULT_PART_SIZE = 64 * MiB
_UPLOAD_ARGS = "MLFLOW_S3_UPLOAD_EXTRA_ARGS"


@dataclass(frozen=True)
class UploadResult:
    """What :func:`upload_file` did.

    Attributes
    ----------
    uri : str
        The object written, ``s3://bucket/key``.
    size : int
        Bytes uploaded (checked against the object's size on S3).
    parts : int
        Parts sent: 1 for a single PUT, else the multipart upload's part count.
    part_size : int
        Bytes per part (the last may be smaller); boto3 raises it for files that would
        need more than 10,000 parts.
    seconds : float
        Wall time of the upload.
    etag : str
        The object's ETag (quotes removed): a fingerprint of what was uploaded (of a
        multipart upload, its parts' MD5s, so it depends on the part size too).
    """

    uri: str
    size: int
    parts: int
    part_size: int
    seconds: float
    etag: str

    @property
    def mb_per_s(self) -> float:
        """Throughput in MB/s (10**6 bytes per second)."""
        return self.size / 1e6 / max(self.seconds, 1e-9)


def upload_file(
    path: str | os.PathLike[str],
    uri: str,
    *,
    part_size: int = DEFAULT_PART_SIZE,
    max_concurrency: int = 8,
    client: Any = None,
) -> UploadResult:
    """Upload a local file to ``s3://bucket/key``, in parts from ``part_size`` bytes on.

    Uses boto3's managed transfer: a file of ``part_size`` bytes or more goes up as a
    multipart upload of ``part_size`` parts sent by ``max_concurrency`` threads; a failed
    part is retried, and a failed upload is aborted. By S3's semantics the object becomes
    visible only when the upload completes, all at once: a reader never sees part of it,
    and an existing object under ``key`` stays readable, unchanged, until then.

    Parameters
    ----------
    path : str or PathLike
        The local file.
    uri : str
        ``s3://<bucket>/<key>``; an existing object there is replaced.
    part_size : int, default 64 MiB
        Bytes per part, and the size from which the upload is multipart; at least 5 MiB.
    max_concurrency : int, default 8
        Parts in flight at once; at least 1.
    client : botocore.client.S3, optional
        The client to use; default :func:`s3_client`.

    Returns
    -------
    UploadResult
        Bytes, parts, part size, seconds and the object's ETag.

    Raises
    ------
    InputError
        ``path`` is not a file, ``uri`` is not ``s3://bucket/key``, ``part_size`` is below
        5 MiB or ``max_concurrency`` below 1, or S3 refused (no bucket, access denied, no
        credentials, endpoint unreachable): the message names the URI and the fix.
    """
    bucket, key = parse_s3_uri(uri)
    source = Path(path)
    if not source.is_file():
        raise InputError(source, "does not exist or is not a file.", fix="check the path.")
    if part_size < MIN_PART_SIZE:
        raise InputError(
            uri,
            f"part_size {part_size} is below S3's minimum part size {MIN_PART_SIZE} (5 MiB).",
            record="part_size",
            fix="give a part size of at least 5 MiB.",
        )
    if max_concurrency < 1:
        raise InputError(
            uri,
            f"max_concurrency {max_concurrency} is below 1.",
            record="max_concurrency",
            fix="give the number of parts to send at once, e.g. 8.",
        )
    size = source.stat().st_size
    chunk = ChunksizeAdjuster().adjust_chunksize(part_size, size)
    parts = math.ceil(size / chunk) if size >= part_size else 1
    config = TransferConfig(
        multipart_threshold=part_size,
        multipart_chunksize=part_size,
        max_concurrency=max_concurrency,
        preferred_transfer_client="classic",
    )
    extra = _upload_args()
    client = client if client is not None else s3_client()
    start = time.perf_counter()
    try:
        client.upload_file(str(source), bucket, key, Config=config, ExtraArgs=extra)
        head = client.head_object(Bucket=bucket, Key=key)
    except (BotoCoreError, ClientError, S3UploadFailedError) as error:
        raise s3_error(uri, error, client, "write") from error
    result = UploadResult(
        uri, size, parts, chunk, time.perf_counter() - start, str(head["ETag"]).strip('"')
    )
    if head["ContentLength"] != size:
        raise InputError(
            uri,
            f"holds {head['ContentLength']} bytes after the upload of {source}, expected {size}.",
            fix="upload again, and check that nothing else writes this key.",
        )
    log.info(
        "uploaded %s to %s: %.1f MB in %d part(s), %.1f s, %.1f MB/s",
        source,
        uri,
        size / 1e6,
        parts,
        result.seconds,
        result.mb_per_s,
    )
    return result


def _upload_args() -> dict[str, Any]:
    """Boto3 upload arguments from ``MLFLOW_S3_UPLOAD_EXTRA_ARGS`` (as MLflow uses them)."""
    text = os.environ.get(_UPLOAD_ARGS, "")
    try:
        value = json.loads(text) if text else {}
    except json.JSONDecodeError:
        value = None
    if not isinstance(value, dict) or set(value) - set(S3Transfer.ALLOWED_UPLOAD_ARGS):
        raise InputError(
            ENVIRONMENT,
            f"{_UPLOAD_ARGS} is not a JSON object of boto3 upload arguments: {text!r}.",
            record=_UPLOAD_ARGS,
            fix='give e.g. {"ServerSideEncryption": "aws:kms"}, or unset it.',
        )
    return value
