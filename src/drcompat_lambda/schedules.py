"""EventBridge Scheduler as the retraining policies' clock in AWS: one schedule per policy whose
target is the job runner function with ``{"action": "run-policy", "policyId": ...}``."""

from __future__ import annotations

import contextlib
import json
from typing import Any

import boto3

PREFIX = "drcompat-policy-"


class EventBridgeSchedules:
    def __init__(
        self,
        target_arn: str,
        role_arn: str,
        group: str = "default",
        endpoint_url: str | None = None,
        client: Any = None,
    ) -> None:
        self.client = client or boto3.client("scheduler", endpoint_url=endpoint_url)
        self.target_arn = target_arn
        self.role_arn = role_arn
        self.group = group

    def upsert(self, policy: dict[str, Any]) -> None:
        request = {
            "Name": PREFIX + policy["id"],
            "GroupName": self.group,
            "ScheduleExpression": policy["schedule"],
            "State": "ENABLED" if policy.get("enabled", True) else "DISABLED",
            "FlexibleTimeWindow": {"Mode": "OFF"},
            "Description": f"Retraining policy {policy['id']} of deployment {policy['deploymentId']}",
            "Target": {
                "Arn": self.target_arn,
                "RoleArn": self.role_arn,
                "Input": json.dumps({"action": "run-policy", "policyId": policy["id"]}),
                "RetryPolicy": {"MaximumRetryAttempts": 2},
            },
        }
        try:
            self.client.create_schedule(**request)
        except self.client.exceptions.ConflictException:
            self.client.update_schedule(**request)

    def delete(self, policy_id: str) -> None:
        with contextlib.suppress(self.client.exceptions.ResourceNotFoundException):
            self.client.delete_schedule(Name=PREFIX + policy_id, GroupName=self.group)
