"""Who fires retraining policies: a local loop in the long-running server, or EventBridge
Scheduler in AWS (one schedule per policy, targeting the job runner function).

Both sit behind ``ScheduleBackend``; the jobs service tells it when a policy is created so the
cloud backend can create the matching schedule.
"""

from __future__ import annotations

import logging
import threading
from datetime import datetime
from typing import Any, Protocol

from drcompat.jobs.service import JobService

log = logging.getLogger(__name__)


class ScheduleBackend(Protocol):
    def upsert(self, policy: dict[str, Any]) -> None: ...

    def delete(self, policy_id: str) -> None: ...


class LocalPolicyLoop:
    """Checks for due policies every ``interval`` seconds and runs them, one at a time."""

    def __init__(self, jobs: JobService, interval: float = 60.0) -> None:
        self.jobs = jobs
        self.interval = interval
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    def upsert(self, policy: dict[str, Any]) -> None:
        """Nothing to register: the loop reads policies from storage on every tick."""

    def delete(self, policy_id: str) -> None:
        """Nothing to unregister locally."""

    def tick(self, now: datetime | None = None) -> list[dict[str, Any]]:
        try:
            return self.jobs.run_due_policies(now)
        except Exception:  # a broken policy must not stop the loop
            log.exception("running due retraining policies failed")
            return []

    def start(self) -> None:
        if self._thread is None:
            self._thread = threading.Thread(target=self._run, name="drcompat-policies", daemon=True)
            self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(5)

    def _run(self) -> None:
        while not self._stop.wait(self.interval):
            for run in self.tick():
                log.info("retraining policy %s ran: %s", run.get("policyId"), run.get("status"))
