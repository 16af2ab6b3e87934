"""The S3 backend: the same keys as the local folder, in a bucket (optionally under a prefix).

boto3 is imported here only, and only when an S3Storage is built, so the core stays AWS-free.
Model files (``models/...``) are immutable per model id, so each is downloaded once per warm
container into a local folder (``/tmp`` in Lambda) after its size is checked against a limit
and the free space; later reads (after a cache eviction, say) come from that copy.
"""

from __future__ import annotations

import os
import shutil
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from drcompat.storage.base import Storage, StorageConflict, StorageKeyError, StorageLimitError

IMMUTABLE_PREFIX = "models/"
DEFAULT_DOWNLOAD_DIR = Path(tempfile.gettempdir()) / "drcompat-models"


class S3Storage(Storage):
    def __init__(
        self,
        bucket: str,
        prefix: str = "",
        endpoint_url: str | None = None,
        download_dir: Path | str = DEFAULT_DOWNLOAD_DIR,
        max_object_bytes: int = 512 * 1024 * 1024,
        client: Any = None,
    ) -> None:
        if client is None:
            import boto3  # noqa: TID251 - the one place the core talks to AWS
            from botocore.config import Config

            config = Config(retries={"mode": "standard", "max_attempts": 4}, connect_timeout=3, read_timeout=30)
            client = boto3.client("s3", endpoint_url=endpoint_url, config=config)
        self.client = client
        self.bucket = bucket
        self.prefix = prefix.strip("/") + "/" if prefix.strip("/") else ""
        self.download_dir = Path(download_dir)
        self.max_object_bytes = max_object_bytes

    def _key(self, key: str) -> str:
        return self.prefix + self.check_key(key)

    @staticmethod
    def _missing(exc: Exception) -> bool:
        code = str(getattr(exc, "response", {}).get("Error", {}).get("Code", ""))
        return code in ("404", "NoSuchKey", "NotFound")

    def _call(self, operation: str, key: str) -> dict[str, Any]:
        """get_object / head_object, with "no such key" as StorageKeyError."""
        try:
            return dict(getattr(self.client, operation)(Bucket=self.bucket, Key=self._key(key)))
        except self.client.exceptions.ClientError as exc:
            if self._missing(exc):
                raise StorageKeyError(key) from exc
            raise

    def read(self, key: str) -> bytes:
        if key.startswith(IMMUTABLE_PREFIX):
            return self._cached(key).read_bytes()
        response = self._call("get_object", key)
        if int(response.get("ContentLength", 0)) > self.max_object_bytes:
            raise StorageLimitError(f"{key} is larger than {self.max_object_bytes} bytes")
        return bytes(response["Body"].read())

    def stream(self, key: str, chunk_bytes: int = 1024 * 1024) -> Iterator[bytes]:
        body = self._call("get_object", key)["Body"]
        return iter(body.iter_chunks(chunk_bytes))

    def _cached(self, key: str) -> Path:
        local = self.download_dir / self.check_key(key)
        if local.is_file():
            return local
        size = int(self._call("head_object", key)["ContentLength"])
        local.parent.mkdir(parents=True, exist_ok=True)
        free = shutil.disk_usage(local.parent).free
        if size > self.max_object_bytes or size > free:
            raise StorageLimitError(f"{key} ({size} bytes) exceeds the limit or the free space of {local.parent}")
        fd, tmp = tempfile.mkstemp(dir=local.parent, prefix=f".{local.name}.")
        os.close(fd)
        try:
            self.client.download_file(self.bucket, self._key(key), tmp)
            if os.path.getsize(tmp) != size:
                raise StorageLimitError(f"{key} changed size while downloading")
            os.replace(tmp, local)
        finally:
            Path(tmp).unlink(missing_ok=True)
        return local

    def version(self, key: str) -> str | None:
        try:
            head = self._call("head_object", key)
        except StorageKeyError:
            return None
        return str(head.get("ETag", "")) + str(head.get("LastModified", ""))

    def write(self, key: str, data: bytes) -> None:
        self.client.put_object(Bucket=self.bucket, Key=self._key(key), Body=data)  # S3 PUTs are atomic

    def delete(self, key: str) -> None:
        self.client.delete_object(Bucket=self.bucket, Key=self._key(key))

    def read_for_update(self, key: str) -> tuple[bytes | None, str | None]:
        try:
            response = self._call("get_object", key)
        except StorageKeyError:
            return None, None
        if int(response.get("ContentLength", 0)) > self.max_object_bytes:
            raise StorageLimitError(f"{key} is larger than {self.max_object_bytes} bytes")
        return bytes(response["Body"].read()), str(response["ETag"])

    def write_if(self, key: str, data: bytes, precondition: str | None) -> None:
        """S3 conditional writes: If-Match the ETag read, or If-None-Match for a new object."""
        condition = {"IfMatch": precondition} if precondition is not None else {"IfNoneMatch": "*"}
        try:
            self.client.put_object(Bucket=self.bucket, Key=self._key(key), Body=data, **condition)
        except self.client.exceptions.ClientError as exc:
            code = str(exc.response.get("Error", {}).get("Code", ""))
            if code in ("PreconditionFailed", "ConditionalRequestConflict", "412", "409"):
                raise StorageConflict(key) from exc
            raise

    def list(self, prefix: str) -> list[str]:
        keys: list[str] = []
        paginator = self.client.get_paginator("list_objects_v2")
        for page in paginator.paginate(Bucket=self.bucket, Prefix=self.prefix + prefix):
            keys += [item["Key"][len(self.prefix) :] for item in page.get("Contents", [])]
        return sorted(keys)
