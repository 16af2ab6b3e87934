"""Object storage behind one interface: a local folder now, S3 later, laid out the same way.

Layout (the same keys in the folder and in the bucket)::

    deployments.yaml                  deployments, their model ids, settings and token scopes
    models/<modelId>/model.onnx       the ONNX graph
    models/<modelId>/model.yaml       its metadata (target, classes, features, statistics)
"""

from drcompat.storage.base import Storage, StorageConflict, StorageKeyError, StorageLimitError
from drcompat.storage.factory import storage_from_settings
from drcompat.storage.local import LocalStorage

__all__ = [
    "LocalStorage",
    "Storage",
    "StorageConflict",
    "StorageKeyError",
    "StorageLimitError",
    "storage_from_settings",
]
