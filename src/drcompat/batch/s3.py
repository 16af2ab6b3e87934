"""S3 for batch jobs: ranged reads of the input and the in-order multipart upload of the output.

boto3 is imported lazily, only when an ``s3://`` location is used, so the core stays AWS-free.
S3 wants every multipart part but the last to be at least 5 MiB; scored parts are often smaller,
so consecutive small parts are joined in a buffer (at most 5 MiB plus one part), and a part that
is large enough on its own and stored in S3 is copied server-side (``UploadPartCopy``).
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlparse

from drcompat.errors import BadRequest

MIN_PART_BYTES = 5 * 1024 * 1024


def parse_s3_url(url: str) -> tuple[str, str]:
    parsed = urlparse(url)
    bucket, key = parsed.netloc, parsed.path.lstrip("/")
    if parsed.scheme != "s3" or not bucket or not key:
        raise BadRequest(f"Not an S3 object URL (s3://bucket/key): {url[:200]!r}.")
    return bucket, key


def s3_client(location: dict[str, Any], credentials: Callable[[str], dict[str, Any]] | None = None) -> Any:
    """A client for the location: its stored credential if it names one, else the default chain
    (the stack's role in AWS)."""
    import boto3  # noqa: TID251 - the AWS side of batch jobs, imported only when used

    kwargs: dict[str, Any] = {}
    if location.get("endpointUrl"):
        kwargs["endpoint_url"] = location["endpointUrl"]
    name = location.get("credentialId")
    if name:
        if credentials is None:
            raise BadRequest("No credential store is configured, so credentialId cannot be used.")
        secret = credentials(str(name))
        if secret.get("credentialType") != "s3":
            raise BadRequest(f"Credential {name!r} is not an s3 credential.")
        kwargs["aws_access_key_id"] = secret["awsAccessKeyId"]
        kwargs["aws_secret_access_key"] = secret["awsSecretAccessKey"]
        if secret.get("awsSessionToken"):
            kwargs["aws_session_token"] = secret["awsSessionToken"]
    return boto3.client("s3", **kwargs)


def client_error(exc: Exception) -> str:
    code = str(getattr(exc, "response", {}).get("Error", {}).get("Code", "")) or type(exc).__name__
    return code


@dataclass
class S3Object:
    client: Any
    bucket: str
    key: str

    @classmethod
    def from_url(cls, url: str, client: Any) -> S3Object:
        bucket, key = parse_s3_url(url)
        return cls(client, bucket, key)

    def size(self) -> int:
        try:
            return int(self.client.head_object(Bucket=self.bucket, Key=self.key)["ContentLength"])
        except Exception as exc:
            raise BadRequest(f"Cannot read s3://{self.bucket}/{self.key} ({client_error(exc)}).") from exc

    def read_range(self, start: int, end: int) -> bytes:
        if end <= start:
            return b""
        answer = self.client.get_object(Bucket=self.bucket, Key=self.key, Range=f"bytes={start}-{end - 1}")
        return bytes(answer["Body"].read())


@dataclass(frozen=True)
class Part:
    """One scored part, in order: bytes to read (local) or an object to copy (S3)."""

    size: int
    read: Callable[[], bytes]
    copy_source: dict[str, str] | None = None  # {"Bucket", "Key"} when it already is in S3


def multipart_upload(client: Any, bucket: str, key: str, parts: Iterable[Part]) -> int:
    """Upload ``parts`` in order as one object; returns its size. Aborts the upload on failure."""
    upload = client.create_multipart_upload(Bucket=bucket, Key=key, ContentType="text/csv")
    upload_id = upload["UploadId"]
    done: list[dict[str, Any]] = []
    buffer = bytearray()
    total = 0

    def send(data: bytes | bytearray) -> None:
        number = len(done) + 1
        answer = client.upload_part(Bucket=bucket, Key=key, UploadId=upload_id, PartNumber=number, Body=bytes(data))
        done.append({"PartNumber": number, "ETag": answer["ETag"]})

    try:
        for part in parts:
            total += part.size
            if not buffer and part.copy_source is not None and part.size >= MIN_PART_BYTES:
                number = len(done) + 1
                answer = client.upload_part_copy(
                    Bucket=bucket, Key=key, UploadId=upload_id, PartNumber=number, CopySource=part.copy_source
                )
                done.append({"PartNumber": number, "ETag": answer["CopyPartResult"]["ETag"]})
                continue
            buffer += part.read()
            if len(buffer) >= MIN_PART_BYTES:
                send(buffer)
                buffer = bytearray()
        if buffer or not done:
            send(buffer)
        client.complete_multipart_upload(Bucket=bucket, Key=key, UploadId=upload_id, MultipartUpload={"Parts": done})
    except BaseException:
        client.abort_multipart_upload(Bucket=bucket, Key=key, UploadId=upload_id)
        raise
    return total
