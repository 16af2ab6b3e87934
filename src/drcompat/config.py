"""Settings read once from the environment (prefix ``DRC_``) and passed in, never re-read."""

from __future__ import annotations

from pathlib import Path

from pydantic_settings import BaseSettings, SettingsConfigDict

# API Gateway's payload limit (REST and HTTP APIs) is 10 MB; DataRobot's dedicated servers allow 50 MB.
API_GATEWAY_BODY_LIMIT = 10 * 1024 * 1024
DATAROBOT_BODY_LIMIT = 50 * 1024 * 1024
DEFAULT_STORAGE_ROOT = Path(__file__).resolve().parents[2] / "layers" / "models"


class Settings(BaseSettings):
    """Service settings; every field can be set as ``DRC_<NAME>`` in the environment."""

    model_config = SettingsConfigDict(env_prefix="DRC_", frozen=True)

    storage_root: Path = DEFAULT_STORAGE_ROOT
    max_body_bytes: int = API_GATEWAY_BODY_LIMIT
    max_decompressed_bytes: int = DATAROBOT_BODY_LIMIT
    max_request_line_bytes: int = 8192
    model_cache_max_models: int = 16
    model_cache_max_bytes: int = 1024 * 1024 * 1024
    registry_ttl_seconds: float = 1.0
    onnx_intra_op_threads: int = 0
