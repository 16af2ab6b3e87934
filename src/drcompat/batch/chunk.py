"""One chunk task, as every engine runs it: read the byte range, score it, write the part.

A task is a JSON-able dict, so the same function runs in a thread, in a worker process and in
the Step Functions map's Lambda function::

    {"deploymentId", "options": ScoreOptions, "source": location, "headerEnd": int,
     "chunk": {"index", "start", "end"}, "part": location}

It answers ``{"index", "rows", "failed", "size"}`` or, when the chunk cannot be scored, the same
with ``"error": {"message", "row"?}``; it never raises for bad data.
"""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Any

from drcompat.batch.files import CredentialLookup, is_s3, open_source
from drcompat.batch.plan import Chunk
from drcompat.batch.s3 import parse_s3_url, s3_client
from drcompat.batch.score import ChunkScorer, RowError, ScoreOptions
from drcompat.errors import ApiError
from drcompat.predict import PredictionService

log = logging.getLogger("drcompat.batch")


def write_part(location: dict[str, Any], data: bytes, credentials: CredentialLookup | None = None) -> None:
    if is_s3(location):
        bucket, key = parse_s3_url(location["url"])
        s3_client(location, credentials).put_object(Bucket=bucket, Key=key, Body=data, ContentType="text/csv")
        return
    path = Path(location["path"])
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.tmp")
    tmp.write_bytes(data)
    tmp.replace(path)


def run_chunk(
    service: PredictionService, task: dict[str, Any], credentials: CredentialLookup | None = None
) -> dict[str, Any]:
    chunk = Chunk.from_dict(task["chunk"])
    answer: dict[str, Any] = {"index": chunk.index, "rows": 0, "failed": 0, "size": 0}
    try:
        scorer = ChunkScorer(service, task["deploymentId"], ScoreOptions.from_dict(task["options"]))
        source = open_source(task["source"], credentials)
        header = source.read_range(0, int(task["headerEnd"]))
        result = scorer.score(header, source.read_range(chunk.start, chunk.end), first=chunk.index == 0)
        write_part(task["part"], result.data, credentials)
    except RowError as exc:
        answer["error"] = {"message": exc.reason, "row": exc.row}
        return answer
    except ApiError as exc:
        answer["error"] = {"message": exc.message}
        return answer
    except Exception:
        log.exception("chunk %s failed", chunk.index)
        answer["error"] = {"message": f"Internal error while scoring chunk {chunk.index + 1}."}
        return answer
    answer.update(rows=result.rows, failed=result.failed, size=len(result.data))
    return answer


_services: dict[str, PredictionService] = {}


def run_chunk_in_process(settings_json: str, task: dict[str, Any]) -> dict[str, Any]:
    """The worker-process entry: one PredictionService (and warm model cache) per process."""
    from drcompat.config import Settings
    from drcompat.jobs.credentials import credential_store

    service = _services.get(settings_json)
    if service is None:
        service = _services[settings_json] = PredictionService(Settings.from_json(settings_json))
    store = credential_store(service.settings)
    return run_chunk(service, task, store.get if store else None)
