"""An S3-protocol server on loopback (moto) with one fresh bucket, and ways to look inside it."""

from __future__ import annotations

import logging
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any

import boto3
from moto.server import ThreadedMotoServer

#: moto's default region; the tracking server signs for it too.
REGION = "us-east-1"


@dataclass(frozen=True)
class Bucket:
    """A bucket on the loopback S3 server, seen with the server's own credentials."""

    endpoint: str
    name: str
    client: Any  # a boto3 S3 client

    def sizes(self, prefix: str = "") -> dict[str, int]:
        """Every object's key under ``prefix`` and its size in bytes."""
        pages = self.client.get_paginator("list_objects_v2").paginate(
            Bucket=self.name, Prefix=prefix
        )
        return {o["Key"]: o["Size"] for page in pages for o in page.get("Contents", [])}

    def read(self, key: str) -> bytes:
        """The object's bytes, as stored (no content decoding)."""
        return bytes(self.client.get_object(Bucket=self.name, Key=key)["Body"].read())

    def parts(self, key: str) -> tuple[str, int, int]:
        """The object's ETag, its number of parts and the size of part 1, from S3 itself."""
        whole = self.client.head_object(Bucket=self.name, Key=key)
        first = self.client.head_object(Bucket=self.name, Key=key, PartNumber=1)
        return whole["ETag"].strip('"'), int(first.get("PartsCount", 1)), first["ContentLength"]


@contextmanager
def s3_bucket(access_key: str, secret_key: str) -> Iterator[Bucket]:
    """Start moto's S3 server on a free loopback port with a uniquely named bucket."""
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
    logging.getLogger("werkzeug").setLevel(logging.WARNING)  # one line per S3 request
    server.start()
    try:
        host, port = server.get_host_and_port()
        endpoint = f"http://{host}:{port}"
        client = boto3.client(
            "s3",
            endpoint_url=endpoint,
            aws_access_key_id=access_key,
            aws_secret_access_key=secret_key,
            region_name=REGION,
        )
        name = f"exprflow-e2e-{uuid.uuid4().hex[:12]}"
        client.create_bucket(Bucket=name)
        yield Bucket(endpoint, name, client)
    finally:
        server.stop()
