"""The monitoring routes' REST shapes (camelCase, as DataRobot's client reads them).

Each route declares one of these as its ``response_model``, so the OpenAPI document shows exactly
what it answers and the client's field names live in one place.
"""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict
from pydantic.alias_generators import to_camel

Number = float | int | None


class Schema(BaseModel):
    model_config = ConfigDict(alias_generator=to_camel, populate_by_name=True)


class PeriodOut(Schema):
    start: str
    end: str


class ServiceStatsOut(Schema):
    period: PeriodOut
    metrics: dict[str, Number]
    model_id: str | None


class BucketOut(Schema):
    period: PeriodOut | None
    value: Number
    sample_size: int | None = None
    model_id: str | None = None


class ServiceStatsOverTimeOut(Schema):
    metric: str
    model_id: str | None
    buckets: list[BucketOut]
    summary: BucketOut


class TargetDriftOut(Schema):
    period: PeriodOut
    metric: str
    model_id: str
    target_name: str
    drift_score: float | None
    sample_size: int
    baseline_sample_size: int | None
    segment_value: str | None = None


class FeatureDriftItem(Schema):
    name: str
    drift_score: float | None
    feature_impact: float | None
    sample_size: int
    baseline_sample_size: int | None


class FeatureDriftOut(Schema):
    period: PeriodOut
    metric: str
    model_id: str
    data: list[FeatureDriftItem]
    count: int
    next: str | None
    previous: str | None


class AccuracyItem(Schema):
    metric: str
    value: float | None
    baseline_value: float | None
    percent_change: float | None
    sample_size: int


class AccuracyOut(Schema):
    period: PeriodOut
    model_id: str
    data: list[AccuracyItem]
    metrics: dict[str, dict[str, Number]]


class BaselineOut(Schema):
    model_id: str
    value: float | None
    sample_size: int | None


class AccuracyOverTimeOut(Schema):
    metric: str
    model_id: str
    buckets: list[BucketOut]
    summary: BucketOut
    baseline: BucketOut
    baselines: list[BaselineOut]


class AssociationIdOut(Schema):
    column_names: list[str] | None
    required_in_prediction_requests: bool


class SettingsOut(Schema):
    association_id: AssociationIdOut
