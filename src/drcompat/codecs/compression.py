"""``Content-Encoding: gzip`` / ``bz2`` bodies, inflated with a hard cap on the output size.

The cap is enforced while inflating, chunk by chunk, so a decompression bomb costs at most the cap
in memory before it is refused with 413.
"""

from __future__ import annotations

import bz2
import zlib

from drcompat.errors import BadRequest, PayloadTooLarge, UnsupportedMediaType

GZIP_WBITS = 16 + zlib.MAX_WBITS


def _too_large(limit: int) -> PayloadTooLarge:
    return PayloadTooLarge(f"The decompressed body is larger than the limit of {limit} bytes.")


def _gunzip(data: bytes, limit: int) -> bytes:
    out = bytearray()
    while data:
        inflater = zlib.decompressobj(GZIP_WBITS)
        pending = data
        while pending:
            out += inflater.decompress(pending, limit - len(out) + 1)
            if len(out) > limit:
                raise _too_large(limit)
            pending = inflater.unconsumed_tail
        if not inflater.eof:
            raise BadRequest("The gzip body is truncated.")
        data = inflater.unused_data
        if data and not data.strip(b"\x00"):
            break  # trailing zero padding, as gzip(1) tolerates
    return bytes(out)


def _bunzip2(data: bytes, limit: int) -> bytes:
    out = bytearray()
    while data:
        inflater = bz2.BZ2Decompressor()
        out += inflater.decompress(data, limit - len(out) + 1)
        while not inflater.eof and not inflater.needs_input:
            if len(out) > limit:
                raise _too_large(limit)
            out += inflater.decompress(b"", limit - len(out) + 1)
        if len(out) > limit:
            raise _too_large(limit)
        if not inflater.eof:
            raise BadRequest("The bz2 body is truncated.")
        data = inflater.unused_data
    return bytes(out)


DECODERS = {"gzip": _gunzip, "x-gzip": _gunzip, "bz2": _bunzip2, "x-bzip2": _bunzip2, "bzip2": _bunzip2}


def decompress(body: bytes, content_encoding: str | None, limit: int) -> bytes:
    """The body as sent, inflated per Content-Encoding; 413 past ``limit``, 400 if corrupt."""
    encoding = (content_encoding or "").strip().lower()
    if encoding in ("", "identity"):
        if len(body) > limit:
            raise _too_large(limit)
        return body
    decoder = DECODERS.get(encoding)
    if decoder is None:
        raise UnsupportedMediaType(f"Unsupported Content-Encoding {encoding!r}: use gzip or bz2.")
    try:
        return decoder(body, limit)
    except (zlib.error, OSError, EOFError, ValueError) as exc:
        raise BadRequest(f"The body is not valid {encoding} data.") from exc
