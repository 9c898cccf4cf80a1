"""A seekable, read-only file over an S3 object that fetches byte ranges on demand.

``h5py.File(S3RangeFile("s3://bucket/embeddings.h5"), "r")`` reads one region of a large
chunked HDF5 with a few small GETs (the metadata it needs, then the region's chunk) instead
of downloading the file; :func:`open_readable` gives h5py a local path as is. The client is
:func:`exprflow.storage.s3.s3_client`.
"""

from __future__ import annotations

import io
import os
from collections import OrderedDict
from pathlib import Path
from typing import TYPE_CHECKING, Any
from urllib.parse import urlsplit

from botocore.exceptions import BotoCoreError, ClientError

from exprflow.errors import InputError
from exprflow.storage.s3 import error_code, parse_s3_uri, s3_client, s3_error

if TYPE_CHECKING:
    from _typeshed import WriteableBuffer

__all__ = ["DEFAULT_BLOCK_SIZE", "S3RangeFile", "open_readable"]

#: Small reads (HDF5 metadata) are served from cached blocks of this size.
DEFAULT_BLOCK_SIZE = 256 * 1024
_CHANGED = {"412", "PreconditionFailed"}


class S3RangeFile(io.RawIOBase):
    """A read-only, seekable file over an S3 object that fetches byte ranges on demand.

    Opening sends one HEAD (size and ETag); each read then sends at most one ranged GET,
    pinned to that ETag with ``If-Match``, so an object replaced while it is read fails
    loudly instead of mixing two versions. Reads of ``block_size`` bytes or more go
    straight through as one GET of exactly the bytes asked for (an HDF5 chunk); smaller
    reads (HDF5 metadata) are served from an LRU cache of ``cache_blocks`` aligned blocks.
    ``h5py.File(S3RangeFile(uri), "r")`` works through h5py's file-object driver, which
    calls :meth:`seek` and :meth:`readinto`.

    Not thread-safe (one position, one cache): give each thread its own instance; they may
    share one ``client``.

    Parameters
    ----------
    uri : str
        ``s3://<bucket>/<key>``.
    client : botocore.client.S3, optional
        The client to use; default :func:`s3_client` (cached per environment).
    block_size : int, default 256 KiB
        Size of the cached blocks, and the size from which a read bypasses the cache.
    cache_blocks : int, default 16
        Blocks kept (least recently used evicted first).

    Attributes
    ----------
    size : int
        The object's size in bytes.
    etag : str
        The object's ETag when opened (with its quotes, as S3 gives it).
    requests : int
        Requests sent so far (the HEAD and every GET).
    bytes_fetched : int
        Bytes received so far.

    Raises
    ------
    InputError
        ``uri`` is not ``s3://bucket/key``, ``block_size`` or ``cache_blocks`` is not
        positive, or the object cannot be read (no such bucket or key, access denied,
        endpoint unreachable); later reads raise it when the object changed.
    """

    def __init__(
        self,
        uri: str,
        *,
        client: Any = None,
        block_size: int = DEFAULT_BLOCK_SIZE,
        cache_blocks: int = 16,
    ) -> None:
        super().__init__()
        self._cache: OrderedDict[int, bytes] = OrderedDict()  # before anything can raise
        self.uri = uri
        self.bucket, self.key = parse_s3_uri(uri)
        if block_size < 1 or cache_blocks < 1:
            raise InputError(
                uri,
                f"block_size {block_size} and cache_blocks {cache_blocks} must be positive.",
                record="block_size",
                fix="give a positive block size (e.g. 262144) and cache size (e.g. 16).",
            )
        self.block_size = block_size
        self._cache_blocks = cache_blocks
        self._client = client if client is not None else s3_client()
        self._pos = 0
        self.requests = 0
        self.bytes_fetched = 0
        head = self._head()
        self.size = int(head["ContentLength"])
        self.etag = str(head["ETag"])

    def __repr__(self) -> str:
        return f"S3RangeFile({self.uri!r}, size={self.size})"

    def readable(self) -> bool:
        """Always true."""
        return True

    def seekable(self) -> bool:
        """Always true."""
        return True

    def write(self, data: Any) -> int:
        """Refused: the object is read-only."""
        raise io.UnsupportedOperation(f"{self.uri} is open read-only")

    def seek(self, offset: int, whence: int = io.SEEK_SET) -> int:
        """Move to ``offset`` from the start, the current position or the end; no request.

        Parameters
        ----------
        offset : int
            Bytes from the reference point (may point past the end: reads there give
            nothing).
        whence : int, default io.SEEK_SET
            ``io.SEEK_SET``, ``io.SEEK_CUR`` or ``io.SEEK_END``.

        Returns
        -------
        int
            The new position.
        """
        self._check_open()
        bases = {io.SEEK_SET: 0, io.SEEK_CUR: self._pos, io.SEEK_END: self.size}
        if whence not in bases:
            raise ValueError(f"whence {whence} is not SEEK_SET, SEEK_CUR or SEEK_END")
        position = bases[whence] + offset
        if position < 0:
            raise ValueError(f"negative seek position {position}")
        self._pos = position
        return position

    def tell(self) -> int:
        """The current position."""
        self._check_open()
        return self._pos

    def readinto(self, buffer: WriteableBuffer) -> int:
        """Read up to ``len(buffer)`` bytes at the current position into ``buffer``.

        Parameters
        ----------
        buffer : writable bytes-like
            Where the bytes go.

        Returns
        -------
        int
            Bytes read: fewer than asked at the end of the object, 0 at or past it.
        """
        self._check_open()
        view = memoryview(buffer).cast("B")
        start, end = self._pos, min(self._pos + len(view), self.size)
        if end <= start:
            return 0
        count = end - start
        if count >= self.block_size:
            view[:count] = self._get(start, end)
        else:
            first = start // self.block_size
            blocks = b"".join(self._blocks(first, (end - 1) // self.block_size))
            offset = start - first * self.block_size
            view[:count] = blocks[offset : offset + count]
        self._pos = end
        return count

    def readall(self) -> bytes:
        """The rest of the object, in one request."""
        return self.read(max(self.size - self._pos, 0)) or b""

    def close(self) -> None:
        """Drop the cache; the client stays usable."""
        self._cache.clear()
        super().close()

    def _check_open(self) -> None:
        if self.closed:
            raise ValueError(f"I/O operation on closed file {self.uri}")

    def _blocks(self, first: int, last: int) -> list[bytes]:
        """Blocks ``first`` … ``last``, the missing ones fetched in one GET."""
        missing = [index for index in range(first, last + 1) if index not in self._cache]
        fetched: dict[int, bytes] = {}
        if missing:
            low, high = missing[0], missing[-1]
            size = self.block_size
            data = self._get(low * size, min((high + 1) * size, self.size))
            for index in range(low, high + 1):
                fetched[index] = data[(index - low) * size : (index - low + 1) * size]
        blocks = []
        for index in range(first, last + 1):
            block = fetched[index] if index in fetched else self._cache[index]
            self._cache[index] = block
            self._cache.move_to_end(index)
            blocks.append(block)
        while len(self._cache) > self._cache_blocks:
            self._cache.popitem(last=False)
        return blocks

    def _head(self) -> dict[str, Any]:
        self.requests += 1
        try:
            return dict(self._client.head_object(Bucket=self.bucket, Key=self.key))
        except (BotoCoreError, ClientError) as error:
            raise s3_error(self.uri, error, self._client, "read") from error

    def _get(self, start: int, end: int) -> bytes:
        """Bytes ``start`` to ``end`` (exclusive) of the version opened."""
        self.requests += 1
        try:
            response = self._client.get_object(
                Bucket=self.bucket,
                Key=self.key,
                Range=f"bytes={start}-{end - 1}",
                IfMatch=self.etag,
            )
            data = bytes(response["Body"].read())
        except ClientError as error:
            if error_code(error) in _CHANGED:
                raise InputError(
                    self.uri,
                    f"was replaced after it was opened (ETag then {self.etag}).",
                    fix="reopen it, and do not overwrite an object while it is being read.",
                ) from error
            raise s3_error(self.uri, error, self._client, "read") from error
        except BotoCoreError as error:
            raise s3_error(self.uri, error, self._client, "read") from error
        self.bytes_fetched += len(data)
        if len(data) != end - start:
            raise InputError(
                self.uri,
                f"returned {len(data)} bytes for bytes {start}-{end - 1}, expected {end - start}.",
                fix="check the S3 server, then reopen the file.",
            )
        return data


def open_readable(uri: str | os.PathLike[str]) -> Path | S3RangeFile:
    """Something ``h5py.File(…, "r")`` opens: a local path as is, an ``s3://`` URI ranged.

    Parameters
    ----------
    uri : str or PathLike
        A local path, ``file://…`` or ``s3://bucket/key``.

    Returns
    -------
    Path or S3RangeFile
        The local file's path (h5py opens it natively), or an open :class:`S3RangeFile`
        (close it after the h5py file).

    Raises
    ------
    InputError
        The local file does not exist, the scheme is neither ``file`` nor ``s3``, or the
        S3 object cannot be opened.
    """
    text = os.fspath(uri)
    if text.startswith("s3://"):
        return S3RangeFile(text)
    if "://" in text and not text.startswith("file://"):
        raise InputError(
            text,
            f"scheme {text.split('://')[0]!r} cannot be read in place.",
            fix="give a local path, file://… or s3://<bucket>/<key>.",
        )
    path = Path(urlsplit(text).path if text.startswith("file://") else text).expanduser()
    if not path.is_file():
        raise InputError(text, "does not exist or is not a file.", fix="check the path.")
    return path
