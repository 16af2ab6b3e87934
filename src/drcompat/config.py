"""Settings read once from the environment (prefix ``DRC_``) and passed in, never re-read."""

from __future__ import annotations

import os
import tempfile
from pathlib import Path
from typing import Literal

from drcompat.envconfig import EnvSettings

# API Gateway's payload limit (REST and HTTP APIs) is 10 MB; DataRobot's dedicated servers allow 50 MB.
API_GATEWAY_BODY_LIMIT = 10 * 1024 * 1024
DATAROBOT_BODY_LIMIT = 50 * 1024 * 1024
DEFAULT_STORAGE_ROOT = Path(__file__).resolve().parents[2] / "layers" / "models"
# What the service writes over the bundled demo (jobs, runs, policies, published versions,
# deployments.yaml changes): a git-ignored folder, so using the service never dirties the checkout.
DEFAULT_DATA_DIR = Path(__file__).resolve().parents[2] / ".drcompat-data"


class Settings(EnvSettings):
    """Service settings; every field can be set as ``DRC_<NAME>`` in the environment."""

    env_prefix = "DRC_"

    storage_backend: Literal["local", "s3"] = "local"
    storage_root: Path = DEFAULT_STORAGE_ROOT  # the local bucket folder (backend "local")
    # Local writes: None writes into storage_root itself, except over the bundled demo, which
    # stays read-only under DEFAULT_DATA_DIR (reads fall through to it).
    data_dir: Path | None = None
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
    # Uncompressed prediction bodies up to this size (and up to 1,000 columns) are scored on the
    # event loop: scoring takes milliseconds, and handing it to a worker thread measured slower
    # (~23 ms instead of ~15 ms for 10,000 rows: 0.5 MB of CSV, 1.1 MB of JSON); larger, wider or
    # compressed ones go to a worker thread. Explanations, which take seconds, go to the thread
    # pool so a server keeps answering, unless explain_inline is set (Lambda: one request per
    # container, and a fresh event loop per invocation, so a hop would start a thread each time;
    # there every body is scored inline).
    inline_body_bytes: int = 2 * 1024 * 1024
    explain_inline: bool = False
    # Larger (or compressed) bodies wait for one of scoring_threads worker slots before their body
    # is read, so a flood of large bodies holds at most this many in memory at once.
    scoring_threads: int = 2
    # Per request: cells (rows x columns, as sent) and columns; 413 past either, checked from the
    # CSV header and line count before a frame is built where the body allows it.
    max_cells: int = 2_000_000
    max_columns: int = 20_000
    # The local server (uvicorn): the whole body within body_timeout_seconds of its first byte,
    # never idle longer than body_idle_timeout_seconds (408 either way); a request head within
    # header_timeout_seconds of its first byte; idle keep-alive connections kept keep_alive_seconds
    # (DataRobot's 600); at most max_connections open (idle ones are closed first to make room,
    # then 503); request heads up to max_header_bytes (400 past it).
    body_timeout_seconds: float = 60.0
    body_idle_timeout_seconds: float = 10.0
    header_timeout_seconds: float = 10.0
    keep_alive_seconds: float = 600.0
    max_connections: int = 200
    max_header_bytes: int = 16 * 1024
    # The local server's protocol answers plain prediction POSTs itself, without the ASGI app
    # (api.direct_http: the same answers, about 0.1 ms less each); false: the app answers all.
    direct_http: bool = True
    onnx_intra_op_threads: int = 0
    # onnxruntime's pool threads busy-wait between a run's parallel sections (a 10,000-row run of
    # the demo model: 5.8-6.0 ms with it, 7.1-7.3 without) and, by its default, for a while after
    # the run too, taking the cores the server then needs to parse and answer (over HTTP on a
    # loaded 2-core machine, up to 1.8x slower). Sessions here always stop spinning at the end of
    # a run; DRC_ONNX_ALLOW_SPINNING=false turns spinning off altogether (many processes per core).
    onnx_allow_spinning: bool = True
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
    public_url: str | None = None  # the service URL jobs call back (DATAROBOT_ENDPOINT); see job_endpoint
    # CSV answers of more rows than this are encoded and sent in pieces of this many rows (0: in one
    # piece). Set where the door streams: the function-URL door behind the Lambda Web Adapter.
    stream_csv_rows: int = 0

    # Monitoring: capture from every scored request, flushed to storage in batches every
    # flush_seconds (or at flush_rows waiting rows); what a killed container can lose is bounded by both.
    monitoring_enabled: bool = True
    monitoring_flush_seconds: float = 10.0
    monitoring_flush_rows: int = 50_000

    # Batch predictions (local engine): where uploads, parts and job records live (never in the
    # checkout), the worker threads of the server's pool, the default chunk size, the largest
    # upload, and the S3 endpoints (besides AWS) a job's endpointUrl may name.
    batch_root: Path = Path(tempfile.gettempdir()) / "drcompat-batch"
    batch_workers: int = 2
    batch_chunk_bytes: int = 8 * 1024 * 1024
    batch_max_upload_bytes: int = 5 * 1024 * 1024 * 1024
    batch_endpoint_urls: tuple[str, ...] = ()

    # Jobs are hostile code (see README, "Jobs: threat model and limits"). job_sandbox "required"
    # runs each job in a bubblewrap sandbox and refuses to run where none can be made; "off" is
    # the documented opt-out for trusted jobs (and AWS Lambda, which cannot create namespaces).
    job_sandbox: Literal["required", "off"] = "required"
    job_disk_quota_bytes: int = 1024 * 1024 * 1024  # the job's writable space (home, /tmp, output)
    job_log_max_bytes: int = 8 * 1024 * 1024  # kept per run; the rest is cut with a marker
    job_max_processes: int = 256  # processes and threads of one run (a fork storm stops there)
    job_upload_max_bytes: int = 64 * 1024 * 1024  # one request to add files or an archive
    job_archive_max_entries: int = 2000
    job_archive_max_bytes: int = 256 * 1024 * 1024  # what one archive may unpack to
    job_json_max_bytes: int = 1024 * 1024  # a jobs-API JSON body, counted while it is read
    # networkAccess of a job created without one (the admin setting; DataRobot self-managed: none)
    job_default_network: Literal["public", "none"] = "public"
    # The public demo token opens the demo deployments only where this is true (the local demo);
    # a deployed stack turns it on with the DemoToken template parameter (default off).
    demo_token: bool = True

    # Management API. The base URL deployments report as their prediction server (behind API
    # Gateway it includes the stage; unset: the URL the request came in on).
    prediction_server_url: str | None = None
    allow_pickle_import: bool = False  # unpickling runs the file's code: off for REST imports unless set
    max_import_bytes: int = 256 * 1024 * 1024


def job_endpoint(settings: Settings) -> str:
    """DATAROBOT_ENDPOINT for jobs: DRC_PUBLIC_URL, or this local server's own prediction API base
    (HOST and PORT as ``make serve`` reads them; AWS sets DRC_PUBLIC_URL to the API's URL)."""
    if settings.public_url:
        return settings.public_url
    host = os.environ.get("HOST", "127.0.0.1")
    host = "127.0.0.1" if host in ("0.0.0.0", "") else host  # noqa: S104 - a bind-all address is not callable
    return f"http://{host}:{os.environ.get('PORT', '8080')}/predApi/v1.0"
