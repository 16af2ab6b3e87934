"""Run the service locally with uvicorn over the local bucket folder (no AWS needed).

PORT=8080 python -m drcompat.api.server      # WORKERS=2: one process per worker (see the README)
"""

from __future__ import annotations

import logging
import os

import uvicorn
from fastapi import FastAPI
from uvicorn.supervisors import Multiprocess

from drcompat.api.app import PREFIX, create_app
from drcompat.api.protocol import protocol_class
from drcompat.config import Settings
from drcompat.jobs.scheduler import LocalPolicyLoop

DEMO_DEPLOYMENT = "65f1a0000000000000000001"
DEMO_TOKEN = "demo-token-0123456789abcdef"  # noqa: S105 - the documented public demo token
DEMO_SAMPLE = "layers/models/samples/diabetes_binary.csv"


def uvicorn_config(app: FastAPI, settings: Settings, host: str, port: int, log_level: str = "info") -> uvicorn.Config:
    """uvicorn as the service runs it: its limits and timeouts come from the settings."""
    return uvicorn.Config(
        app,
        host=host,
        port=port,
        log_level=log_level,
        http=protocol_class(
            settings.max_connections,
            settings.header_timeout_seconds,
            settings.max_header_bytes,
            settings.max_request_line_bytes,
            getattr(app.state, "direct_http", None),
        ),
        timeout_keep_alive=int(settings.keep_alive_seconds),
        limit_concurrency=None,  # the protocol caps connections itself, idle ones closed first
    )


def main() -> None:
    settings = Settings()
    level = os.environ.get("LOG_LEVEL", "info").upper()
    level = level if level in logging.getLevelNamesMapping() else "DEBUG"  # uvicorn also knows "trace"
    logging.basicConfig(level=level, format="%(levelname)-9s %(name)s: %(message)s")  # uvicorn keeps its own
    host = os.environ.get("HOST", "127.0.0.1")
    port = int(os.environ.get("PORT", "8080"))
    app = create_app(settings, warm=True)
    recovered = app.state.jobs.recover_interrupted_runs()  # this process is the only local job runner
    if recovered:
        print(f"Marked {len(recovered)} run(s) left running by a previous stop as failed", flush=True)
    if settings.policy_interval_seconds > 0:  # locally the service runs due retraining policies itself
        LocalPolicyLoop(app.state.jobs, settings.policy_interval_seconds).start()
    print(f"Serving deployments from {settings.storage_root} on http://{host}:{port}  (OpenAPI: /docs)")
    print("Try:")
    print(
        f'  curl -s -X POST "http://{host}:{port}{PREFIX}/deployments/{DEMO_DEPLOYMENT}/predictions" '
        f'-H "Authorization: Bearer {DEMO_TOKEN}" -F file=@{DEMO_SAMPLE}',
        flush=True,
    )
    config = uvicorn_config(app, settings, host, port, os.environ.get("LOG_LEVEL", "info"))
    workers = int(os.environ.get("WORKERS", "1") or "1")
    if workers > 1:  # one process per worker (e.g. one per core in a container), same limits each
        del app
        config = uvicorn.Config(
            "drcompat.api.workers:app",
            factory=True,
            workers=workers,
            host=host,
            port=port,
            log_level=config.log_level,
            http="drcompat.api.workers:Protocol",
            timeout_keep_alive=config.timeout_keep_alive,
            limit_concurrency=None,
        )
        Multiprocess(config, sockets=[config.bind_socket()]).run()
        return
    uvicorn.Server(config).run()


if __name__ == "__main__":
    main()
