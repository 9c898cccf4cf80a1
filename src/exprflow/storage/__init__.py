"""Where large outputs live: local paths and ``s3://`` objects (multipart upload, range reads)."""

from __future__ import annotations

from exprflow.storage.range_file import S3RangeFile, open_readable
from exprflow.storage.s3 import parse_s3_uri, s3_client, s3_error
from exprflow.storage.upload import UploadResult, upload_file

__all__ = [
    "S3RangeFile",
    "UploadResult",
    "open_readable",
    "parse_s3_uri",
    "s3_client",
    "s3_error",
    "upload_file",
]
