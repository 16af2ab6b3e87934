"""Pick the storage backend from settings: the local folder, or the bucket over the models layer."""

from __future__ import annotations

from typing import TYPE_CHECKING

from drcompat.storage.base import Storage
from drcompat.storage.local import LocalStorage

if TYPE_CHECKING:
    from drcompat.config import Settings


def storage_from_settings(settings: Settings) -> Storage:
    if not settings.demo_token:
        from drcompat.storage.demo import WithoutDemoTokens

        return WithoutDemoTokens(_storage(settings))
    return _storage(settings)


def _storage(settings: Settings) -> Storage:
    if settings.storage_backend == "local":
        return local_storage(settings)
    if not settings.bucket:
        raise ValueError("DRC_BUCKET must be set when DRC_STORAGE_BACKEND is s3")
    from drcompat.storage.overlay import OverlayStorage
    from drcompat.storage.s3 import S3Storage

    bucket = S3Storage(
        settings.bucket,
        settings.bucket_prefix,
        settings.s3_endpoint_url,
        settings.model_download_dir,
        settings.max_model_bytes,
    )
    if settings.layer_root is not None and settings.layer_root.is_dir():
        return OverlayStorage(bucket, LocalStorage(settings.layer_root))
    return bucket


def local_storage(settings: Settings) -> Storage:
    """The local folder; over the bundled demo, an overlay whose writes go to the data folder."""
    from drcompat.config import DEFAULT_DATA_DIR, DEFAULT_STORAGE_ROOT
    from drcompat.storage.overlay import OverlayStorage

    data_dir = settings.data_dir
    if data_dir is None and settings.storage_root.resolve() == DEFAULT_STORAGE_ROOT.resolve():
        data_dir = DEFAULT_DATA_DIR
    if data_dir is None or data_dir.resolve() == settings.storage_root.resolve():
        return LocalStorage(settings.storage_root)
    return OverlayStorage(LocalStorage(data_dir), LocalStorage(settings.storage_root))
