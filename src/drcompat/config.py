"""Settings read once from the environment (prefix ``DRC_``) and passed in, never re-read."""

from __future__ import annotations

import tempfile
from pathlib import Path
from typing import Literal

from pydantic_settings import BaseSettings, SettingsConfigDict

# API Gateway's payload limit (REST and HTTP APIs) is 10 MB; DataRobot's dedicated servers allow 50 MB.
API_GATEWAY_BODY_LIMIT = 10 * 1024 * 1024
DATAROBOT_BODY_LIMIT = 50 * 1024 * 1024
DEFAULT_STORAGE_ROOT = Path(__file__).resolve().parents[2] / "layers" / "models"


class Settings(BaseSettings):
    """Service settings; every field can be set as ``DRC_<NAME>`` in the environment."""

    model_config = SettingsConfigDict(env_prefix="DRC_", frozen=True)

    storage_backend: Literal["local", "s3"] = "local"
    storage_root: Path = DEFAULT_STORAGE_ROOT  # the local bucket folder (backend "local")
    bucket: str = ""  # backend "s3"
    bucket_prefix: str = ""
    s3_endpoint_url: str | None = None  # a local S3 endpoint (moto, MinIO); None means AWS
    layer_root: Path | None = None  # bundled models under the bucket (the Lambda layer: /opt/models)
    model_download_dir: Path = Path(tempfile.gettempdir()) / "drcompat-models"
    max_model_bytes: int = 512 * 1024 * 1024
    max_body_bytes: int = API_GATEWAY_BODY_LIMIT
    max_decompressed_bytes: int = DATAROBOT_BODY_LIMIT
    max_request_line_bytes: int = 8192
    model_cache_max_models: int = 16
    model_cache_max_bytes: int = 1024 * 1024 * 1024
    registry_ttl_seconds: float = 1.0
    # Prediction bodies up to this size are scored on the event loop (every accepted body, by
    # default: scoring takes milliseconds, and handing it to a worker thread measured slower,
    # ~23 ms instead of ~15 ms for 10,000 rows). Explanations, which take seconds, go to the thread
    # pool so a server keeps answering, unless explain_inline is set (Lambda: one request per
    # container, and a fresh event loop per invocation, so a hop would start a thread each time).
    inline_body_bytes: int = 64 * 1024 * 1024
    explain_inline: bool = False
    onnx_intra_op_threads: int = 0
    # Explanations: model evaluations one request may cost (413 past it, naming the row limit),
    # and perturbed rows per session.run (bounds memory).
    explain_max_evaluations: int = 8_000_000
    explain_max_batch: int = 400_000
    # Jobs: how often the local server checks retraining policies (0 turns the loop off), the
    # credential store file, and the Secrets Manager prefix used instead in AWS.
    policy_interval_seconds: float = 60.0
    credentials_file: Path | None = Path.home() / ".drcompat" / "credentials.yaml"
    credentials_secret_prefix: str | None = None
    secrets_endpoint_url: str | None = None  # a local Secrets Manager endpoint (moto); None means AWS
    public_url: str | None = None  # the service URL jobs call back (DATAROBOT_ENDPOINT)
    # CSV answers of more rows than this are encoded and sent in pieces of this many rows (0: in one
    # piece). Set where the door streams: the function-URL door behind the Lambda Web Adapter.
    stream_csv_rows: int = 0
    # Management API. The base URL deployments report as their prediction server (behind API
    # Gateway it includes the stage; unset: the URL the request came in on).
    prediction_server_url: str | None = None
    allow_pickle_import: bool = False  # unpickling runs the file's code: off for REST imports unless set
    max_import_bytes: int = 256 * 1024 * 1024
