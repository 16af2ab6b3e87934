"""Helpers over moto's S3 server (the ``s3_endpoint`` fixture in conftest starts it)."""

from __future__ import annotations

from pathlib import Path

import boto3


def make_bucket(endpoint: str, name: str) -> object:
    client = boto3.client("s3", endpoint_url=endpoint, region_name="us-east-1")
    client.create_bucket(Bucket=name)
    return client


def upload_tree(client: object, bucket: str, root: Path, prefix: str = "") -> None:
    for path in sorted(root.rglob("*")):
        if path.is_file():
            key = prefix + path.relative_to(root).as_posix()
            client.put_object(Bucket=bucket, Key=key, Body=path.read_bytes())  # type: ignore[attr-defined]
