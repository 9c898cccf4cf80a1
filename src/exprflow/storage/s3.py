"""S3 URIs and clients configured like MLflow's, and S3 errors translated into clear ones.

Configuration comes from the environment, as for MLflow and boto3, and is never logged:
``AWS_ACCESS_KEY_ID`` / ``AWS_SECRET_ACCESS_KEY`` (or ``AWS_PROFILE``, or an instance role),
``AWS_DEFAULT_REGION``; an S3-compatible store's endpoint from ``MLFLOW_S3_ENDPOINT_URL``,
else ``AWS_ENDPOINT_URL_S3`` or ``AWS_ENDPOINT_URL``; ``MLFLOW_S3_IGNORE_TLS``;
``MLFLOW_BOTO_CLIENT_ADDRESSING_STYLE`` (``path`` by default against a custom endpoint);
and ``AWS_MAX_ATTEMPTS`` (boto3's ``standard`` retry mode, 3 attempts unless set).
"""

from __future__ import annotations

import logging
import os
from functools import lru_cache
from typing import Any
from urllib.parse import urlsplit

import boto3
from boto3.exceptions import S3UploadFailedError
from botocore.config import Config
from botocore.exceptions import (
    BotoCoreError,
    ClientError,
    NoCredentialsError,
    PartialCredentialsError,
)
from botocore.exceptions import ConnectionError as EndpointUnreachable

from exprflow.errors import InputError

__all__ = ["ENVIRONMENT", "error_code", "parse_s3_uri", "s3_client", "s3_error"]

log = logging.getLogger(__name__)

#: The "file" named by errors about environment variables.
ENVIRONMENT = "environment"
_ENDPOINT_VARIABLES = ("MLFLOW_S3_ENDPOINT_URL", "AWS_ENDPOINT_URL_S3", "AWS_ENDPOINT_URL")
_CREDENTIALS_FIX = (
    "export AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY (or AWS_PROFILE) with access to the bucket."
)
_ENDPOINT_FIX = (
    "set MLFLOW_S3_ENDPOINT_URL to the S3-compatible server (e.g. http://minio:9000), "
    "or unset it to use AWS S3."
)
_NOT_FOUND = {"404", "NotFound", "NoSuchKey"}
_DENIED = {"403", "Forbidden", "AccessDenied", "InvalidAccessKeyId", "SignatureDoesNotMatch"}


def parse_s3_uri(uri: str) -> tuple[str, str]:
    """Split ``s3://bucket/key`` into its bucket and key.

    Parameters
    ----------
    uri : str
        ``s3://<bucket>/<key>``; the key may hold any character, ``/`` included.

    Returns
    -------
    tuple of (str, str)
        The bucket and the key.

    Raises
    ------
    InputError
        ``uri`` is not ``s3://``, or names no bucket or no object key.
    """
    if not uri.startswith("s3://"):
        raise InputError(uri, "is not an s3:// URI.", fix="give s3://<bucket>/<key>.")
    bucket, _, key = uri[len("s3://") :].partition("/")
    if not bucket or not key or key.endswith("/"):
        raise InputError(
            uri,
            f"names no object (bucket {bucket!r}, key {key!r}).",
            fix="give s3://<bucket>/<key>, e.g. s3://exprflow/embeddings/basenji2.h5.",
        )
    return bucket, key


def s3_client() -> Any:
    """A boto3 S3 client configured from the environment, as MLflow configures its own.

    Credentials and region are read by boto3 itself. The endpoint is
    ``MLFLOW_S3_ENDPOINT_URL``, else ``AWS_ENDPOINT_URL_S3`` / ``AWS_ENDPOINT_URL``, else AWS.
    Against a custom endpoint (MinIO, moto, …) the client uses path-style addressing (unless
    ``MLFLOW_BOTO_CLIENT_ADDRESSING_STYLE`` says otherwise) and sends and checks checksums
    only when required (unless ``AWS_REQUEST_CHECKSUM_CALCULATION`` /
    ``AWS_RESPONSE_CHECKSUM_VALIDATION`` say otherwise), as the tracking server does.
    ``MLFLOW_S3_IGNORE_TLS=true`` turns off certificate checks. Retries use boto3's
    ``standard`` mode (``AWS_MAX_ATTEMPTS`` attempts, 3 by default).

    Returns
    -------
    botocore.client.S3
        A client made in a boto3 session of its own (boto3's default session keeps the
        credentials it found first), cached per process and environment: the same
        environment gives the same client (making one takes ~0.15 s; boto3 clients may be
        shared between threads), any change to the environment a new one.

    Raises
    ------
    InputError
        ``MLFLOW_S3_IGNORE_TLS`` is neither true nor false.
    """
    return _client(os.getpid(), tuple(sorted(os.environ.items())))


@lru_cache(maxsize=4)
def _client(pid: int, environment: tuple[tuple[str, str], ...]) -> Any:
    """A new client for ``environment`` (``os.environ`` in process ``pid``: the cache key)."""
    env = dict(environment)
    endpoint = next((env[name] for name in _ENDPOINT_VARIABLES if env.get(name)), None)
    style = env.get("MLFLOW_BOTO_CLIENT_ADDRESSING_STYLE") or ("path" if endpoint else "auto")
    checksums = {}
    if endpoint:
        for option in ("request_checksum_calculation", "response_checksum_validation"):
            if not env.get(f"AWS_{option.upper()}"):
                checksums[option] = "when_required"
    config = Config(
        s3={"addressing_style": style},
        retries={"mode": "standard"},
        connect_timeout=10,
        **checksums,
    )
    verify = False if _ignore_tls(env.get("MLFLOW_S3_IGNORE_TLS", "")) else None
    log.debug("S3 client: endpoint %s, %s addressing", _shown(endpoint), style)
    session = boto3.session.Session()
    return session.client("s3", endpoint_url=endpoint, verify=verify, config=config)


def error_code(error: ClientError) -> str:
    """S3's error code in ``error`` (``NoSuchKey``, ``AccessDenied``, ``404`` for a HEAD, …)."""
    return str(error.response.get("Error", {}).get("Code", "?"))


def s3_error(uri: str, error: Exception, client: Any, doing: str) -> InputError:
    """An :class:`InputError` naming ``uri``, what S3 said and the fix.

    Parameters
    ----------
    uri : str
        The object acted on, ``s3://bucket/key``.
    error : Exception
        What boto3 raised (a ``ClientError``, a ``BotoCoreError`` or boto3's
        ``S3UploadFailedError`` wrapping a ``ClientError``).
    client : botocore.client.S3
        The client that raised it (for its endpoint, and to tell a missing bucket from a
        missing key after a HEAD).
    doing : str
        What was attempted, e.g. ``"read"`` or ``"write"``.

    Returns
    -------
    InputError
        The error to raise (``from error``).
    """
    while isinstance(error, S3UploadFailedError) and isinstance(error.__context__, Exception):
        error = error.__context__  # boto3 wraps a failed upload's ClientError
    where = _shown(client.meta.endpoint_url)
    if isinstance(error, NoCredentialsError | PartialCredentialsError):
        return InputError(uri, f"no S3 credentials to {doing} it.", fix=_CREDENTIALS_FIX)
    if isinstance(error, EndpointUnreachable):
        return InputError(uri, f"cannot reach the S3 endpoint {where}.", fix=_ENDPOINT_FIX)
    if not isinstance(error, ClientError):
        return InputError(uri, f"S3 failed to {doing} it on {where}: {error}", fix=_ENDPOINT_FIX)
    code = error_code(error)
    bucket = parse_s3_uri(uri)[0]
    if code == "NoSuchBucket" or (code in _NOT_FOUND and not _bucket_exists(client, bucket)):
        return InputError(
            uri,
            f"bucket {bucket!r} does not exist on {where}.",
            fix="create the bucket, or correct the URI or MLFLOW_S3_ENDPOINT_URL.",
        )
    if code in _NOT_FOUND:
        return InputError(
            uri, f"no such object on {where}.", fix="check the key, and that it was uploaded."
        )
    if code in _DENIED:
        return InputError(
            uri,
            f"access denied ({code}) to {doing} it on {where}.",
            fix=f"check AWS_ACCESS_KEY_ID / AWS_SECRET_ACCESS_KEY and that the bucket's "
            f"policy lets them {doing} this key.",
        )
    return InputError(uri, f"S3 failed to {doing} it on {where}: {error}", fix=_ENDPOINT_FIX)


def _bucket_exists(client: Any, bucket: str) -> bool:
    """False only when S3 says the bucket is missing (a HEAD of a missing key cannot tell)."""
    try:
        client.head_bucket(Bucket=bucket)
    except ClientError as error:
        return error_code(error) not in _NOT_FOUND | {"NoSuchBucket"}
    except BotoCoreError:
        return True
    return True


def _shown(endpoint: str | None) -> str:
    """``endpoint`` without any user name or password in it, for messages and logs."""
    if not endpoint:
        return "AWS S3"
    parts = urlsplit(endpoint)
    port = f":{parts.port}" if parts.port else ""
    return f"{parts.scheme}://{parts.hostname}{port}"


def _ignore_tls(text: str) -> bool:
    value = text.strip().lower()
    if value not in ("", "true", "1", "false", "0"):
        raise InputError(
            ENVIRONMENT,
            f"MLFLOW_S3_IGNORE_TLS is {value!r}, not true or false.",
            record="MLFLOW_S3_IGNORE_TLS",
            fix="set it to true (skip certificate checks) or false.",
        )
    return value in ("true", "1")
