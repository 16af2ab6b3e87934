"""The capture sink: what every scored request leaves behind, buffered and flushed in batches.

The request path only appends a reference to a list (about a microsecond); the binning, the
aggregation and the storage writes happen in one background thread, every ``flush_seconds`` or
as soon as ``flush_rows`` rows wait. What can be lost: a container frozen (Lambda between
invocations) keeps its buffer and flushes when it thaws; a container killed loses what it had not
flushed yet, at most ``flush_seconds`` of its traffic or ``flush_rows`` rows. Past
``4 * flush_rows`` waiting rows (storage down) new batches are dropped and counted, so memory
stays bounded.
"""

from __future__ import annotations

import atexit
import logging
import math
import threading
import time
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

import numpy as np

from drcompat.capture import ScoredBatch
from drcompat.models.metadata import TargetType
from drcompat.monitoring.baseline import model_baseline, prediction_values
from drcompat.monitoring.store import hour_of, write_part
from drcompat.observe import RequestRecord
from drcompat.predict import PredictionService
from drcompat.storage import Storage

log = logging.getLogger(__name__)
# Latency histogram: 64 geometric bins from 0.1 ms (x1.25 each) to ~160 s; quantiles read from it.
LATENCY_EDGES = np.array([0.1 * 1.25**i for i in range(64)])
SLOW_MS = 1000.0


def latency_bins(values: list[float]) -> list[int]:
    return [int(c) for c in np.bincount(np.searchsorted(LATENCY_EDGES, values), minlength=len(LATENCY_EDGES) + 1)]


def latency_quantile(histogram: list[int], quantile: float) -> float | None:
    """The quantile of a latency histogram (geometric middle of the bin it falls in)."""
    total = sum(histogram)
    if not total:
        return None
    target = quantile * total
    running = 0
    for index, count in enumerate(histogram):
        running += count
        if running >= target and count:
            low = LATENCY_EDGES[index - 1] if index > 0 else LATENCY_EDGES[0] / 1.25
            high = LATENCY_EDGES[index] if index < len(LATENCY_EDGES) else low * 1.25
            return float(math.sqrt(low * high))
    return float(LATENCY_EDGES[-1])


class MonitoringSink:
    """Implements ``drcompat.capture.CaptureSink`` over a storage backend."""

    def __init__(
        self,
        storage: Storage,
        known: Callable[[str], bool],
        flush_seconds: float = 10.0,
        flush_rows: int = 50_000,
        background: bool = True,
    ) -> None:
        self.storage = storage
        self.known = known  # requests for unknown deployment ids are not recorded
        self.flush_seconds = flush_seconds
        self.flush_rows = flush_rows
        self.background = background
        self.dropped = 0
        self._lock = threading.Lock()
        self._flush_lock = threading.Lock()
        self._scored: list[ScoredBatch] = []
        self._requests: list[tuple[float, RequestRecord, str | None, float | None]] = []
        self._rows = 0
        self._wake = threading.Event()
        self._thread: threading.Thread | None = None

    # --- the request path: append and return ------------------------------------------------
    def scored(self, batch: ScoredBatch) -> None:
        rows = len(next(iter(batch.columns.values()))) if batch.columns else 0
        with self._lock:
            if self._rows > 4 * self.flush_rows:
                self.dropped += 1
                return
            self._scored.append(batch)
            self._rows += rows
        if self._rows >= self.flush_rows:
            self._wake.set()
        if self._thread is None and self.background:
            self._start()

    def finished(self, record: RequestRecord, consumer: str | None, execution_ms: float | None) -> None:
        if not self.known(record.deployment_id):
            return
        with self._lock:
            if len(self._requests) > 4 * self.flush_rows:
                self.dropped += 1
                return
            self._requests.append((time.time(), record, consumer, execution_ms))
        if self._thread is None and self.background:
            self._start()

    # --- the background side ----------------------------------------------------------------
    def _start(self) -> None:
        with self._lock:
            if self._thread is not None:
                return
            self._thread = threading.Thread(target=self._run, name="drcompat-monitoring", daemon=True)
            self._thread.start()
        atexit.register(self.flush)

    def _run(self) -> None:
        while True:
            self._wake.wait(self.flush_seconds)
            self._wake.clear()
            self.flush()

    def flush(self) -> int:
        """Write what waits now; returns the parts written. Never raises."""
        with self._flush_lock:
            with self._lock:
                scored, self._scored = self._scored, []
                requests, self._requests = self._requests, []
                self._rows = 0
            if not scored and not requests:
                return 0
            try:
                return self._write(scored, requests)
            except Exception as exc:  # storage down: drop (counted), never retry forever
                self.dropped += len(scored) + len(requests)
                log.warning(
                    "monitoring flush failed (%s); %d records dropped", type(exc).__name__, len(scored) + len(requests)
                )
                return 0

    def _write(
        self, scored: list[ScoredBatch], requests: list[tuple[float, RequestRecord, str | None, float | None]]
    ) -> int:
        aggregates: dict[tuple[str, datetime, str | None], dict[str, Any]] = {}
        associations: dict[tuple[str, datetime], list[dict[str, Any]]] = {}
        timings: dict[tuple[str, datetime, str | None], tuple[list[float], list[float]]] = {}
        hours: dict[int, datetime] = {}
        for at, record, consumer, execution_ms in requests:
            hour = _hour(hours, at)
            key = (record.deployment_id, hour, record.model_id)
            row = aggregates.get(key)
            if row is None:
                row = aggregates[key] = _empty(hour, record.model_id, at)
            _seen(row, at)
            row["requests"] += 1
            if record.status < 400:
                row["predictions"] += record.rows
            elif record.status < 500:
                row["userErrors"] += 1
            else:
                row["serverErrors"] += 1
            if record.cache_hit is not None:
                row["cacheKnown"] += 1
                row["cacheHits"] += int(record.cache_hit)
            row["responseMsSum"] += record.elapsed_ms
            row["slowRequests"] += int(record.elapsed_ms > SLOW_MS)
            if consumer:
                row["consumers"] = sorted(set(row["consumers"]) | {consumer})
            response, execution = timings.setdefault(key, ([], []))
            response.append(record.elapsed_ms)
            if execution_ms is not None:
                execution.append(execution_ms)
                row["executionMsSum"] += execution_ms
                row["executionCount"] += 1
        for key, (response, execution) in timings.items():
            aggregates[key]["responseHist"] = latency_bins(response)
            aggregates[key]["executionHist"] = latency_bins(execution)
        groups: dict[tuple[str, datetime, str], list[ScoredBatch]] = {}
        for batch in scored:
            hour = _hour(hours, batch.at)
            groups.setdefault((batch.deployment_id, hour, batch.metadata.model_id), []).append(batch)
        for (deployment_id, hour, model_id), group in groups.items():
            # one vectorised binning per feature over the whole group, not one per request
            meta = group[-1].metadata
            row = aggregates.setdefault((deployment_id, hour, model_id), _empty(hour, model_id, group[0].at))
            for batch in group:
                _seen(row, batch.at)
            baseline = model_baseline(meta)
            captured = set(group[0].columns).intersection(*(b.columns.keys() for b in group[1:]))
            # (axis=None flattens each batch's column as it joins them: one call per feature)
            row["features"] = {
                bins.name: bins.count(np.concatenate([b.columns[bins.name] for b in group], axis=None))
                for bins in baseline.features
                if bins.name in captured
            }
            predicted_parts = [prediction_values(meta, b.values, b.probabilities, b.label_index) for b in group]
            predicted = np.concatenate(predicted_parts)
            row["predictionHist"] = baseline.prediction.count(predicted)
            row["scoredRows"] += len(predicted)
            if predicted.dtype.kind == "f":
                row["predictionSum"] += float(np.nansum(predicted))
            for batch, values in zip(group, predicted_parts, strict=True):
                if batch.association_ids is not None:
                    associations.setdefault((deployment_id, hour), []).extend(_associations(batch, values))
        parts = 0
        for (deployment_id, hour, _), row in aggregates.items():
            row["features"] = {k: [int(c) for c in v] for k, v in row.get("features", {}).items()}
            if "predictionHist" in row:
                row["predictionHist"] = [int(c) for c in row["predictionHist"]]
            write_part(self.storage, deployment_id, "aggregates", hour, [row])
            parts += 1
        for (deployment_id, hour), rows in associations.items():
            write_part(self.storage, deployment_id, "associations", hour, rows)
            parts += 1
        return parts


def _hour(hours: dict[int, datetime], at: float) -> datetime:
    """The UTC hour of an epoch time, made once per hour a flush meets (not once per record)."""
    number = int(at // 3600)
    found = hours.get(number)
    if found is None:
        found = hours[number] = hour_of(datetime.fromtimestamp(number * 3600, UTC))
    return found


def _seen(row: dict[str, Any], at: float) -> None:
    row["first"], row["last"] = min(row["first"], at), max(row["last"], at)


def _empty(hour: datetime, model_id: str | None, at: float) -> dict[str, Any]:
    return {
        "hour": hour.isoformat(),
        "modelId": model_id,
        "first": at,  # epoch seconds of the first and last record in the row
        "last": at,
        "requests": 0,
        "predictions": 0,
        "userErrors": 0,
        "serverErrors": 0,
        "cacheHits": 0,
        "cacheKnown": 0,
        "responseMsSum": 0.0,
        "executionMsSum": 0.0,
        "executionCount": 0,
        "slowRequests": 0,
        "consumers": [],
        "scoredRows": 0,
        "predictionSum": 0.0,
    }


def _associations(batch: ScoredBatch, predicted: np.ndarray) -> list[dict[str, Any]]:
    meta = batch.metadata
    ids = np.asarray(batch.association_ids).reshape(-1)
    out = []
    multiclass = meta.target_type is TargetType.MULTICLASS and batch.probabilities is not None
    for i, raw in enumerate(ids):
        if raw is None or (isinstance(raw, float) and math.isnan(raw)) or raw == "":
            continue
        text = str(int(raw)) if isinstance(raw, float | np.floating) and float(raw).is_integer() else str(raw)
        item: dict[str, Any] = {"t": batch.at, "id": text, "modelId": meta.model_id}
        item["p"] = str(predicted[i]) if predicted.dtype.kind in "OU" else float(predicted[i])
        if multiclass:
            assert batch.probabilities is not None
            item["probs"] = [float(x) for x in batch.probabilities[i]]
        out.append(item)
    return out


def sink_for(service: PredictionService, flush_seconds: float, flush_rows: int) -> MonitoringSink:
    """The sink for a prediction service: its storage, and its registry to tell real deployments."""

    def known(deployment_id: str) -> bool:
        try:
            return deployment_id in service.registry.snapshot().deployments
        except Exception:
            return False

    return MonitoringSink(service.storage, known, flush_seconds, flush_rows)
