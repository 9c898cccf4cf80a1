"""S3 storage against moto's S3 server on loopback: URIs, client settings, multipart upload,
ranged reads (against the same bytes read locally), h5py through ranged reads, and errors.
"""

from __future__ import annotations

import io
import logging
import os
from collections.abc import Iterator
from pathlib import Path

import h5py
import numpy as np
import pytest
from botocore.stub import Stubber
from tests._live import free_port
from tests.deploy._s3 import REGION, Bucket, s3_bucket

from exprflow.errors import InputError
from exprflow.storage import (
    S3RangeFile,
    open_readable,
    parse_s3_uri,
    s3_client,
    upload_file,
)
from exprflow.storage.upload import MIN_PART_SIZE

ACCESS_KEY = "AKIAEXPRFLOWSTORAGE"
SECRET_KEY = "storage-test-secret-0123456789abcdef"
MiB = 1024 * 1024
_CLEARED = (
    "AWS_ENDPOINT_URL",
    "AWS_ENDPOINT_URL_S3",
    "AWS_PROFILE",
    "AWS_SESSION_TOKEN",
    "MLFLOW_S3_IGNORE_TLS",
    "MLFLOW_S3_UPLOAD_EXTRA_ARGS",
    "MLFLOW_BOTO_CLIENT_ADDRESSING_STYLE",
    "AWS_REQUEST_CHECKSUM_CALCULATION",
    "AWS_RESPONSE_CHECKSUM_VALIDATION",
)


@pytest.fixture(scope="module")
def bucket() -> Iterator[Bucket]:
    with s3_bucket(ACCESS_KEY, SECRET_KEY) as made:
        yield made


@pytest.fixture
def s3(bucket: Bucket, monkeypatch: pytest.MonkeyPatch) -> Bucket:
    """The loopback bucket, with this process's environment pointing at it (and nothing else)."""
    for name in _CLEARED:
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("MLFLOW_S3_ENDPOINT_URL", bucket.endpoint)
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", ACCESS_KEY)
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", SECRET_KEY)
    monkeypatch.setenv("AWS_DEFAULT_REGION", REGION)
    monkeypatch.setenv("AWS_CONFIG_FILE", "/nonexistent/exprflow-tests/aws-config")
    monkeypatch.setenv("AWS_SHARED_CREDENTIALS_FILE", "/nonexistent/exprflow-tests/aws-credentials")
    monkeypatch.setenv("AWS_EC2_METADATA_DISABLED", "true")
    return bucket


def _file(path: Path, size: int, seed: int = 0) -> bytes:
    data = np.random.default_rng(seed).integers(0, 256, size, dtype=np.uint8).tobytes()
    path.write_bytes(data)
    return data


@pytest.fixture(scope="module")
def stored(bucket: Bucket) -> tuple[str, bytes]:
    """An object of 300,007 random bytes (block boundaries every 16 KiB in the tests)."""
    data = np.random.default_rng(7).integers(0, 256, 300_007, dtype=np.uint8).tobytes()
    bucket.client.put_object(Bucket=bucket.name, Key="ranged/random.bin", Body=data)
    return f"s3://{bucket.name}/ranged/random.bin", data


# --- URIs and the client -------------------------------------------------------------------


def test_parse_s3_uri_splits_bucket_and_key() -> None:
    assert parse_s3_uri("s3://exprflow/embeddings/basenji2.h5") == (
        "exprflow",
        "embeddings/basenji2.h5",
    )
    assert parse_s3_uri("s3://b/a?b#c d") == ("b", "a?b#c d")


@pytest.mark.parametrize(
    "uri",
    [
        "/data/e.h5",
        "http://host/b/k",
        "S3://b/k",
        "s3://",
        "s3://bucket",
        "s3://bucket/",
        "s3:///key",
        "s3://b/dir/",
    ],
)
def test_parse_s3_uri_refuses_what_names_no_object(uri: str) -> None:
    with pytest.raises(InputError, match="s3://<bucket>/<key>") as caught:
        parse_s3_uri(uri)
    assert caught.value.path == uri


def test_client_follows_mlflow_settings(s3: Bucket, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("AWS_ENDPOINT_URL", "http://127.0.0.1:1")
    client = s3_client()
    assert client.meta.endpoint_url == s3.endpoint  # MLFLOW_S3_ENDPOINT_URL comes first
    assert client.meta.config.s3 == {"addressing_style": "path"}
    assert client.meta.config.retries["mode"] == "standard"
    assert client.meta.config.request_checksum_calculation == "when_required"
    assert client.meta.config.response_checksum_validation == "when_required"
    assert client._endpoint.http_session._verify is not False  # True or a CA bundle
    assert s3_client() is client  # cached for the same environment

    monkeypatch.delenv("MLFLOW_S3_ENDPOINT_URL")
    monkeypatch.setenv("MLFLOW_S3_IGNORE_TLS", "true")
    monkeypatch.setenv("MLFLOW_BOTO_CLIENT_ADDRESSING_STYLE", "virtual")
    monkeypatch.setenv("AWS_REQUEST_CHECKSUM_CALCULATION", "when_supported")
    client = s3_client()  # a new one: the environment changed
    assert client.meta.endpoint_url == "http://127.0.0.1:1"
    assert client.meta.config.s3 == {"addressing_style": "virtual"}
    assert client.meta.config.request_checksum_calculation == "when_supported"
    assert client._endpoint.http_session._verify is False


def test_client_refuses_an_unreadable_ignore_tls(
    s3: Bucket, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("MLFLOW_S3_IGNORE_TLS", "maybe")
    with pytest.raises(InputError, match="MLFLOW_S3_IGNORE_TLS is 'maybe'"):
        s3_client()


# --- upload ----------------------------------------------------------------------------------


def test_small_file_goes_up_in_one_part(s3: Bucket, tmp_path: Path) -> None:
    data = _file(tmp_path / "small.bin", 1_000_003)
    uri = f"s3://{s3.name}/up/small.bin"
    result = upload_file(tmp_path / "small.bin", uri, part_size=MIN_PART_SIZE)
    assert (result.uri, result.size, result.parts) == (uri, 1_000_003, 1)
    assert s3.parts("up/small.bin") == (result.etag, 1, 1_000_003)
    assert s3.read("up/small.bin") == data


def test_large_file_goes_up_in_parts(s3: Bucket, tmp_path: Path) -> None:
    size = 2 * MIN_PART_SIZE + 12_345
    data = _file(tmp_path / "large.bin", size, seed=1)
    result = upload_file(tmp_path / "large.bin", f"s3://{s3.name}/up/large.bin", part_size=5 * MiB)
    assert (result.size, result.parts, result.part_size) == (size, 3, 5 * MiB)
    assert s3.parts("up/large.bin") == (result.etag, 3, 5 * MiB)  # S3's own count
    assert result.etag.endswith("-3")
    assert s3.read("up/large.bin") == data
    assert result.seconds > 0 and result.mb_per_s > 0


def test_upload_replaces_and_applies_mlflow_extra_args(
    s3: Bucket, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    uri = f"s3://{s3.name}/up/typed.h5"
    _file(tmp_path / "a.bin", 10)
    upload_file(tmp_path / "a.bin", uri)
    monkeypatch.setenv("MLFLOW_S3_UPLOAD_EXTRA_ARGS", '{"ContentType": "application/x-hdf5"}')
    data = _file(tmp_path / "b.bin", 20, seed=2)
    upload_file(tmp_path / "b.bin", uri)
    head = s3.client.head_object(Bucket=s3.name, Key="up/typed.h5")
    assert head["ContentType"] == "application/x-hdf5"
    assert s3.read("up/typed.h5") == data


def test_upload_refuses_bad_arguments(
    s3: Bucket, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    uri = f"s3://{s3.name}/up/bad.bin"
    with pytest.raises(InputError, match="does not exist or is not a file"):
        upload_file(tmp_path / "missing.bin", uri)
    _file(tmp_path / "x.bin", 10)
    with pytest.raises(InputError, match="below S3's minimum part size") as caught:
        upload_file(tmp_path / "x.bin", uri, part_size=MIN_PART_SIZE - 1)
    assert caught.value.record == "part_size"
    with pytest.raises(InputError, match="max_concurrency 0 is below 1"):
        upload_file(tmp_path / "x.bin", uri, max_concurrency=0)
    for text in ("not json", '["ContentType"]', '{"Bucket": "other"}'):
        monkeypatch.setenv("MLFLOW_S3_UPLOAD_EXTRA_ARGS", text)
        with pytest.raises(InputError, match="MLFLOW_S3_UPLOAD_EXTRA_ARGS is not a JSON object"):
            upload_file(tmp_path / "x.bin", uri)
    assert "up/bad.bin" not in s3.sizes("up/")


def test_upload_to_a_missing_bucket_names_uri_and_fix(s3: Bucket, tmp_path: Path) -> None:
    _file(tmp_path / "x.bin", 10)
    uri = "s3://exprflow-no-such-bucket/e.h5"
    with pytest.raises(
        InputError, match="bucket 'exprflow-no-such-bucket' does not exist"
    ) as caught:
        upload_file(tmp_path / "x.bin", uri)
    assert caught.value.path == uri
    assert "MLFLOW_S3_ENDPOINT_URL" in (caught.value.fix or "")


def test_upload_access_denied_names_the_credentials(s3: Bucket, tmp_path: Path) -> None:
    _file(tmp_path / "x.bin", 10)
    client = s3_client()
    with Stubber(client) as stub:
        stub.add_client_error("put_object", "AccessDenied", "Access Denied", 403)
        with pytest.raises(InputError, match=r"access denied \(AccessDenied\) to write") as caught:
            upload_file(tmp_path / "x.bin", f"s3://{s3.name}/up/denied.bin", client=client)
    assert "AWS_SECRET_ACCESS_KEY" in (caught.value.fix or "")


def test_unreachable_endpoint_names_uri_and_fix(
    s3: Bucket, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    closed = f"http://127.0.0.1:{free_port()}"
    monkeypatch.setenv("MLFLOW_S3_ENDPOINT_URL", closed)
    monkeypatch.setenv("AWS_MAX_ATTEMPTS", "1")
    _file(tmp_path / "x.bin", 10)
    uri = f"s3://{s3.name}/up/x.bin"
    for action in (lambda: upload_file(tmp_path / "x.bin", uri), lambda: S3RangeFile(uri)):
        with pytest.raises(InputError, match=f"cannot reach the S3 endpoint {closed}") as caught:
            action()
        assert caught.value.path == uri
        assert "MLFLOW_S3_ENDPOINT_URL" in (caught.value.fix or "")


def test_missing_credentials_are_named(
    s3: Bucket, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("AWS_ACCESS_KEY_ID")
    monkeypatch.delenv("AWS_SECRET_ACCESS_KEY")
    _file(tmp_path / "x.bin", 10)
    with pytest.raises(InputError, match="no S3 credentials to write it") as caught:
        upload_file(tmp_path / "x.bin", f"s3://{s3.name}/up/x.bin")
    assert "AWS_ACCESS_KEY_ID" in (caught.value.fix or "")


# --- ranged reads ------------------------------------------------------------------------------


def test_reads_and_seeks_match_the_local_bytes(s3: Bucket, stored: tuple[str, bytes]) -> None:
    uri, data = stored
    local = io.BytesIO(data)
    rng = np.random.default_rng(3)
    with S3RangeFile(uri, block_size=16 * 1024, cache_blocks=4) as remote:
        assert (remote.size, remote.readable(), remote.seekable(), remote.writable()) == (
            len(data),
            True,
            True,
            False,
        )
        for _ in range(150):
            whence = int(rng.integers(0, 3))
            offset = int(rng.integers(-len(data), len(data) + 100))
            if whence == io.SEEK_SET:
                offset = abs(offset)
            elif whence == io.SEEK_CUR:
                offset = max(offset, -local.tell())
            else:
                offset = max(offset, -len(data)) // 8
            assert remote.seek(offset, whence) == local.seek(offset, whence)
            size = int(rng.choice([0, 1, 100, 16 * 1024 - 1, 16 * 1024, 40_000, 100_000]))
            assert remote.read(size) == local.read(size)
            assert remote.tell() == local.tell()
        remote.seek(-5, io.SEEK_END)
        assert remote.read() == data[-5:]
        assert remote.read(10) == b""
        remote.seek(len(data) + 10)
        assert remote.read(10) == b"" and remote.tell() == len(data) + 10
        remote.seek(1000)
        assert remote.readall() == data[1000:]


def test_small_reads_share_blocks_and_large_reads_go_straight_through(
    s3: Bucket, stored: tuple[str, bytes]
) -> None:
    uri, data = stored
    block = 16 * 1024
    with S3RangeFile(uri, block_size=block, cache_blocks=2) as remote:
        assert (remote.requests, remote.bytes_fetched) == (1, 0)  # the HEAD
        remote.seek(100)
        assert remote.read(8) == data[100:108]
        remote.seek(3000)
        assert remote.read(500) == data[3000:3500]
        assert (remote.requests, remote.bytes_fetched) == (2, block)  # one block, once
        remote.seek(block - 10)
        assert remote.read(20) == data[block - 10 : block + 10]  # block 1 fetched, 0 cached
        assert (remote.requests, remote.bytes_fetched) == (3, 2 * block)
        remote.seek(5 * block - 10)
        assert remote.read(20) == data[5 * block - 10 : 5 * block + 10]  # 4 and 5 in one GET
        assert (remote.requests, remote.bytes_fetched) == (4, 4 * block)
        remote.seek(0)
        assert remote.read(1) == data[:1]  # block 0 was evicted (2 blocks kept)
        assert (remote.requests, remote.bytes_fetched) == (5, 5 * block)
        remote.seek(123_456)
        assert remote.read(50_000) == data[123_456:173_456]  # exactly the bytes asked for
        assert (remote.requests, remote.bytes_fetched) == (6, 5 * block + 50_000)
        remote.seek(len(data) - 3)
        assert remote.read(10) == data[-3:]  # the last, short block
        assert remote.bytes_fetched == 5 * block + 50_000 + len(data) % block


def test_an_empty_object_reads_nothing(s3: Bucket) -> None:
    s3.client.put_object(Bucket=s3.name, Key="ranged/empty", Body=b"")
    with S3RangeFile(f"s3://{s3.name}/ranged/empty") as remote:
        assert (remote.size, remote.read(10), remote.read(), remote.requests) == (0, b"", b"", 1)


def test_file_object_misuse_is_refused(s3: Bucket, stored: tuple[str, bytes]) -> None:
    remote = S3RangeFile(stored[0])
    with pytest.raises(ValueError, match="negative seek position -1"):
        remote.seek(-1)
    with pytest.raises(ValueError, match="whence 7"):
        remote.seek(0, 7)
    with pytest.raises(io.UnsupportedOperation):
        remote.write(b"x")
    remote.close()
    with pytest.raises(ValueError, match="closed file"):
        remote.read(1)
    with pytest.raises(InputError, match="must be positive"):
        S3RangeFile(stored[0], block_size=0)


def test_an_object_replaced_after_opening_fails_loudly(s3: Bucket) -> None:
    key = "ranged/replaced.bin"
    s3.client.put_object(Bucket=s3.name, Key=key, Body=b"a" * 1000)
    with S3RangeFile(f"s3://{s3.name}/{key}", block_size=100) as remote:
        assert remote.read(10) == b"a" * 10
        s3.client.put_object(Bucket=s3.name, Key=key, Body=b"b" * 1000)
        remote.seek(0)
        assert remote.read(10) == b"a" * 10  # cached block of the version opened
        with pytest.raises(InputError, match="was replaced after it was opened") as caught:
            remote.read(500)
    assert caught.value.path == f"s3://{s3.name}/{key}"


def test_missing_object_and_bucket_are_named(s3: Bucket) -> None:
    with pytest.raises(InputError, match="no such object") as caught:
        S3RangeFile(f"s3://{s3.name}/ranged/absent.h5")
    assert caught.value.path == f"s3://{s3.name}/ranged/absent.h5"
    with pytest.raises(InputError, match="bucket 'exprflow-absent' does not exist"):
        S3RangeFile("s3://exprflow-absent/e.h5")


def test_read_access_denied_is_named(s3: Bucket) -> None:
    client = s3_client()
    with Stubber(client) as stub:
        stub.add_client_error("head_object", "403", "Forbidden", 403)
        with pytest.raises(InputError, match=r"access denied \(403\) to read"):
            S3RangeFile(f"s3://{s3.name}/ranged/random.bin", client=client)


# --- h5py through ranged reads ---------------------------------------------------------------


@pytest.fixture(scope="module")
def embeddings(bucket: Bucket, tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, str]:
    """A chunked gzip HDF5 of 200 regions, one per chunk (~23 KB each), local and on S3."""
    path = tmp_path_factory.mktemp("h5") / "embeddings.h5"
    values = np.random.default_rng(5).standard_normal((200, 64, 192)).astype(np.float16)
    with h5py.File(path, "w") as out:
        out.create_dataset(
            "embeddings", data=values, chunks=(1, 64, 192), compression="gzip", compression_opts=1
        )
        out.create_dataset("start", data=np.arange(200, dtype=np.int64) * 131_072)
    bucket.client.upload_file(str(path), bucket.name, "h5/embeddings.h5")
    return path, f"s3://{bucket.name}/h5/embeddings.h5"


def test_h5py_reads_one_region_with_a_few_small_gets(
    s3: Bucket, embeddings: tuple[Path, str]
) -> None:
    path, uri = embeddings
    size = path.stat().st_size
    with h5py.File(path, "r") as local:
        expected = local["embeddings"][123], local["embeddings"][7], local["start"][123]
    # Blocks smaller than a chunk, as in the real file (256 KiB blocks, ~2.5 MB chunks).
    with S3RangeFile(uri, block_size=16 * 1024) as raw, h5py.File(raw, "r") as remote:
        region = remote["embeddings"][123]
        first = raw.requests, raw.bytes_fetched
        start = remote["start"][123]
        other = remote["embeddings"][7]
        later = raw.requests - first[0]
    np.testing.assert_array_equal(region, expected[0])
    np.testing.assert_array_equal(other, expected[1])
    assert start == expected[2]
    # Measured: 4 requests (HEAD, 2 metadata blocks, the chunk), 55,504 of 4,571,352 bytes
    # (1.2 %); then a coordinate and another region 3 (a metadata block each, the chunk).
    assert first[0] <= 4
    assert first[1] < 0.02 * size
    assert later <= 3


def test_open_readable_gives_h5py_a_path_or_a_ranged_file(
    s3: Bucket, embeddings: tuple[Path, str], tmp_path: Path
) -> None:
    path, uri = embeddings
    assert open_readable(str(path)) == path
    (tmp_path / "run:1").mkdir()
    (tmp_path / "run:1" / "e.h5").write_bytes(b"")
    assert open_readable(f"{tmp_path}/run:1/e.h5") == tmp_path / "run:1" / "e.h5"
    assert open_readable(f"file://{path}") == path
    assert open_readable(path) == path
    remote = open_readable(uri)
    assert isinstance(remote, S3RangeFile)
    with remote, h5py.File(remote, "r") as opened:
        assert opened["embeddings"].shape == (200, 64, 192)
    with pytest.raises(InputError, match="does not exist or is not a file"):
        open_readable(path.parent / "absent.h5")
    with pytest.raises(InputError, match="scheme 'https' cannot be read in place"):
        open_readable("https://example.org/e.h5")


def test_no_secret_is_logged(
    s3: Bucket, tmp_path: Path, stored: tuple[str, bytes], caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    _file(tmp_path / "x.bin", 100)
    upload_file(tmp_path / "x.bin", f"s3://{s3.name}/up/logged.bin")
    with S3RangeFile(stored[0]) as remote:
        remote.read(100)
    assert caplog.records
    assert SECRET_KEY not in caplog.text
    assert os.environ["AWS_SECRET_ACCESS_KEY"] == SECRET_KEY


def test_h5py_surfaces_a_replaced_object(s3: Bucket, embeddings: tuple[Path, str]) -> None:
    key = "h5/replaced.h5"
    source = {"Bucket": s3.name, "Key": "h5/embeddings.h5"}
    s3.client.copy_object(Bucket=s3.name, Key=key, CopySource=source)
    changed = embeddings[0].read_bytes() + b"\0"  # same HDF5 content, another ETag
    with (
        S3RangeFile(f"s3://{s3.name}/{key}", block_size=16 * 1024) as raw,
        h5py.File(raw) as remote,
    ):
        remote["embeddings"][0]
        s3.client.put_object(Bucket=s3.name, Key=key, Body=changed)
        with pytest.raises(InputError, match="was replaced after it was opened"):
            remote["embeddings"][150]
