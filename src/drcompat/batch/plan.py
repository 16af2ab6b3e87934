"""The chunk plan: byte ranges of a CSV that start and end on record boundaries.

One streaming pass counts the quote character (``bytes.count``, C speed) so a newline inside a
quoted field is never taken for a record end; memory is one block whatever the file's size.
Each chunk is scored as ``header + bytes[start:end]``, so chunks are independent and can run
anywhere (a thread, a process, a Lambda function) in any order.
"""

from __future__ import annotations

import itertools
from collections.abc import Iterator
from dataclasses import asdict, dataclass
from typing import Any, Protocol

from drcompat.errors import BadRequest

BLOCK_BYTES = 4 * 1024 * 1024
MAX_HEADER_BYTES = 1024 * 1024
DEFAULT_CHUNK_BYTES = 8 * 1024 * 1024
MIN_CHUNK_BYTES = 1024
MAX_CHUNK_BYTES = 256 * 1024 * 1024


class ByteSource(Protocol):
    """Something whose bytes can be read by range: a local file, an S3 object."""

    def size(self) -> int: ...

    def read_range(self, start: int, end: int) -> bytes: ...


@dataclass(frozen=True)
class Chunk:
    index: int
    start: int  # first byte of the chunk's first record
    end: int  # one past the last byte of its last record

    def to_dict(self) -> dict[str, int]:
        return asdict(self)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> Chunk:
        return cls(int(data["index"]), int(data["start"]), int(data["end"]))


@dataclass(frozen=True)
class Plan:
    size: int
    header: bytes  # the header record, its line end included
    chunks: tuple[Chunk, ...]

    @property
    def data_bytes(self) -> int:
        return self.size - len(self.header)


def blocks(source: ByteSource, start: int, size: int, block: int = BLOCK_BYTES) -> Iterator[tuple[int, bytes]]:
    offset = start
    while offset < size:
        data = source.read_range(offset, min(offset + block, size))
        if not data:
            return
        yield offset, data
        offset += len(data)


def record_end(data: bytes, i: int, parity: int, quote: bytes) -> tuple[int | None, int]:
    """Just past the first newline from ``i`` outside quotes (``parity``: the quotes seen so far,
    mod 2), or None when the block ends first; and the parity there. Each stretch between
    newlines is counted by ``bytes.count``, at C speed."""
    while True:
        j = data.find(b"\n", i)
        if j == -1:
            return None, parity ^ (data.count(quote, i) & 1)
        parity ^= data.count(quote, i, j) & 1
        i = j + 1
        if parity == 0:
            return i, parity


def header_end(source: ByteSource, size: int, quote: bytes = b'"') -> int:
    """Offset just past the header record (a newline outside quotes), or the size if none."""
    parity = 0
    for offset, data in blocks(source, 0, min(size, MAX_HEADER_BYTES), 64 * 1024):
        end, parity = record_end(data, 0, parity, quote)
        if end is not None:
            return offset + end
    if size > MAX_HEADER_BYTES:
        raise BadRequest(f"The CSV header row is longer than {MAX_HEADER_BYTES} bytes (or never ends).")
    return size


def check_chunk_bytes(value: int) -> int:
    if not MIN_CHUNK_BYTES <= value <= MAX_CHUNK_BYTES:
        raise BadRequest(f"chunkSize must be between {MIN_CHUNK_BYTES} and {MAX_CHUNK_BYTES} bytes.")
    return value


def plan_chunks(source: ByteSource, chunk_bytes: int = DEFAULT_CHUNK_BYTES, quotechar: str = '"') -> Plan:
    """Cut the data after the header into chunks of about ``chunk_bytes``, on record ends."""
    quote = quotechar.encode()
    size = source.size()
    if size == 0:
        raise BadRequest("The CSV input is empty: it needs a header row and at least one row.")
    start = header_end(source, size, quote)
    header = source.read_range(0, start)
    bounds = [start]
    parity = 0
    seeking = False
    target = start + chunk_bytes
    for offset, data in blocks(source, start, size):
        i, n = 0, len(data)
        while i < n:
            if not seeking:
                if target >= offset + n:
                    parity ^= data.count(quote, i) & 1
                    break
                rel = target - offset
                parity ^= data.count(quote, i, rel) & 1
                i, seeking = rel, True
            end, parity = record_end(data, i, parity, quote)
            if end is None:
                break
            i = end
            bound = offset + i
            if bound < size:
                bounds.append(bound)
            target, seeking = bound + chunk_bytes, False
    if bounds[-1] != size:
        bounds.append(size)
    chunks = tuple(Chunk(k, a, b) for k, (a, b) in enumerate(itertools.pairwise(bounds)))
    return Plan(size=size, header=header, chunks=chunks)
