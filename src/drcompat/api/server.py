"""Run the service locally with uvicorn over the local bucket folder (no AWS needed).

PORT=8080 python -m drcompat.api.server
"""

from __future__ import annotations

import os

import uvicorn

from drcompat.api.app import PREFIX, create_app
from drcompat.config import Settings
from drcompat.jobs.scheduler import LocalPolicyLoop

DEMO_DEPLOYMENT = "65f1a0000000000000000001"
DEMO_TOKEN = "demo-token-0123456789abcdef"  # noqa: S105 - the documented public demo token
DEMO_SAMPLE = "layers/models/samples/diabetes_binary.csv"


def main() -> None:
    settings = Settings()
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
    uvicorn.run(app, host=host, port=port, log_level=os.environ.get("LOG_LEVEL", "info"))


if __name__ == "__main__":
    main()
