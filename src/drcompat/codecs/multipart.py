"""``multipart/form-data`` bodies (``curl -F file=@data.csv``): the ``file`` part's bytes.

python-multipart's streaming parser finds boundaries with ``bytes.find``, so a large upload is
not split line by line in Python.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from python_multipart.exceptions import MultipartParseError
from python_multipart.multipart import MultipartParser, parse_options_header

from drcompat.errors import BadRequest

FILE_FIELD = "file"
MAX_BOUNDARY = 256  # RFC 2046 allows 70 characters; longer ones are refused before parsing


@dataclass
class Part:
    headers: dict[str, bytes] = field(default_factory=dict)
    chunks: list[bytes] = field(default_factory=list)

    @property
    def name(self) -> str:
        _, params = parse_options_header(self.headers.get("content-disposition", b""))
        return params.get(b"name", b"").decode("utf-8", "replace")

    @property
    def content_type(self) -> str:
        return self.headers.get("content-type", b"").decode("latin-1")


def file_part(body: bytes, boundary: str) -> tuple[bytes, str]:
    """The bytes and the declared content type of the ``file`` part."""
    if not boundary:
        raise BadRequest("multipart/form-data needs a boundary parameter.")
    if len(boundary.encode("latin-1", "replace")) > MAX_BOUNDARY:
        raise BadRequest(f"The multipart boundary is longer than {MAX_BOUNDARY} bytes (RFC 2046 allows 70).")
    parts: list[Part] = []
    header_field = bytearray()
    header_value = bytearray()

    def on_part_begin() -> None:
        parts.append(Part())

    def on_part_data(data: bytes, start: int, end: int) -> None:
        parts[-1].chunks.append(data[start:end])

    def on_header_field(data: bytes, start: int, end: int) -> None:
        header_field.extend(data[start:end])

    def on_header_value(data: bytes, start: int, end: int) -> None:
        header_value.extend(data[start:end])

    def on_header_end() -> None:
        parts[-1].headers[header_field.decode("latin-1").lower()] = bytes(header_value)
        header_field.clear()
        header_value.clear()

    parser = MultipartParser(
        boundary,
        {
            "on_part_begin": on_part_begin,
            "on_part_data": on_part_data,
            "on_header_field": on_header_field,
            "on_header_value": on_header_value,
            "on_header_end": on_header_end,
        },
    )
    try:
        parser.write(body)
        parser.finalize()
    except (MultipartParseError, ValueError) as exc:
        raise BadRequest("Malformed multipart/form-data body.") from exc
    files = [part for part in parts if part.name == FILE_FIELD]
    if len(files) > 1:
        raise BadRequest(f"The multipart/form-data body has {len(files)} 'file' parts; send exactly one.")
    if files:
        return b"".join(files[0].chunks), files[0].content_type
    raise BadRequest("The multipart/form-data body has no 'file' part (send it as -F file=@data.csv).")
