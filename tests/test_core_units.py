"""Core pieces on their own: storage keys, the cache's bounds, decompression caps, credentials."""

from __future__ import annotations

import base64
import bz2
import gzip
from types import SimpleNamespace

import pytest

from drcompat.auth import token_from_header
from drcompat.codecs.compression import decompress
from drcompat.errors import BadRequest, PayloadTooLarge, Unauthorized, UnsupportedMediaType
from drcompat.models.cache import ModelCache
from drcompat.storage import LocalStorage, StorageKeyError


@pytest.mark.parametrize("key", ["../etc/passwd", "/abs", "a//b", "a/./b", "", "a\\b", "models/../../x"])
def test_storage_refuses_keys_that_escape(tmp_path, key):
    store = LocalStorage(tmp_path)
    with pytest.raises(StorageKeyError):
        store.read(key)
    with pytest.raises(StorageKeyError):
        store.write(key, b"x")


def test_storage_write_is_atomic_and_versioned(tmp_path):
    store = LocalStorage(tmp_path)
    assert store.version("a/b.txt") is None
    store.write("a/b.txt", b"one")
    first = store.version("a/b.txt")
    store.write("a/b.txt", b"two!")
    assert store.read("a/b.txt") == b"two!"
    assert store.version("a/b.txt") != first
    assert store.list("a") == ["a/b.txt"]
    assert not [p for p in (tmp_path / "a").iterdir() if p.name.startswith(".")]  # no temp files left


def fake_model(size: int) -> SimpleNamespace:
    return SimpleNamespace(size_bytes=size)


def test_cache_evicts_least_recently_used_by_count():
    cache = ModelCache(max_models=2)
    for name in ["a", "b"]:
        cache.get(name, lambda: fake_model(1))  # type: ignore[arg-type, return-value]
    cache.get("a", lambda: fake_model(1))  # type: ignore[arg-type, return-value]  # a is now most recent
    cache.get("c", lambda: fake_model(1))  # type: ignore[arg-type, return-value]
    assert cache.ids() == ["a", "c"]


def test_cache_evicts_by_bytes_but_keeps_the_newest():
    cache = ModelCache(max_models=10, max_bytes=100)
    cache.get("a", lambda: fake_model(60))  # type: ignore[arg-type, return-value]
    cache.get("b", lambda: fake_model(60))  # type: ignore[arg-type, return-value]
    assert cache.ids() == ["b"]
    _, hit = cache.get("big", lambda: fake_model(500))  # type: ignore[arg-type, return-value]
    assert not hit and cache.ids() == ["big"]  # larger than the budget: still served, alone


def test_cache_loads_once_and_reports_hits():
    cache = ModelCache()
    calls = []
    _, first = cache.get("m", lambda: calls.append(1) or fake_model(1))  # type: ignore[arg-type, return-value]
    _, second = cache.get("m", lambda: calls.append(1) or fake_model(1))  # type: ignore[arg-type, return-value]
    assert (first, second, len(calls)) == (False, True, 1)


def test_decompress_exact_limit_passes_and_one_more_byte_fails():
    data = b"x" * 1000
    assert decompress(gzip.compress(data), "gzip", 1000) == data
    assert decompress(bz2.compress(data), "bz2", 1000) == data
    with pytest.raises(PayloadTooLarge):
        decompress(gzip.compress(data), "gzip", 999)
    with pytest.raises(PayloadTooLarge):
        decompress(bz2.compress(data), "bz2", 999)
    with pytest.raises(PayloadTooLarge):
        decompress(data, None, 999)


def test_decompress_multi_stream_bz2_and_padding():
    assert decompress(bz2.compress(b"ab") + bz2.compress(b"cd"), "bz2", 100) == b"abcd"
    assert decompress(gzip.compress(b"ab") + b"\x00" * 8, "gzip", 100) == b"ab"


def test_decompress_errors():
    with pytest.raises(UnsupportedMediaType):
        decompress(b"x", "deflate", 10)
    with pytest.raises(BadRequest):
        decompress(gzip.compress(b"ab") + b"trailing junk", "gzip", 100)


@pytest.mark.parametrize(
    ("header", "token"),
    [
        ("Bearer abc", "abc"),
        ("bearer   abc  ", "abc"),
        ("Token abc", "abc"),
        ("Basic " + base64.b64encode(b"me@example.com:abc").decode(), "abc"),
        ("Basic " + base64.b64encode(b"user:a:b:c").decode(), "a:b:c"),
    ],
)
def test_token_forms(header, token):
    assert token_from_header(header) == token


@pytest.mark.parametrize(
    "header", [None, "", "Bearer ", "Negotiate abc", "Basic " + base64.b64encode(b"user:").decode()]
)
def test_token_form_errors(header):
    with pytest.raises(Unauthorized):
        token_from_header(header)
