"""A model's metadata file (``model.yaml``): what the scorer and the response shaper need.

The ONNX graph says how to compute; this file says what the numbers mean (target, class order,
positive class, threshold, feature types) and carries training statistics for later features.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any

OBJECT_ID = re.compile(r"^[0-9a-f]{24}\Z")  # (\Z: "$" would also take a trailing newline)


class MetadataError(ValueError):
    """The metadata file is not usable; the message names the field."""


class TargetType(StrEnum):
    REGRESSION = "Regression"
    BINARY = "Binary"
    MULTICLASS = "Multiclass"


@dataclass(frozen=True)
class Feature:
    name: str
    type: str  # "numeric" or "categorical"


Label = str | int | float | bool
EXPOSURE_LINKS = ("log",)


@dataclass(frozen=True)
class Exposure:
    """A regression model trained with an exposure offset (``exposure: {column, link}``).

    With the log link the model's output is the rate per unit of exposure (its offset, log
    exposure, set to 0); the exposure-adjusted prediction is that output times the row's exposure.
    """

    column: str
    link: str = "log"


@dataclass(frozen=True)
class ModelMetadata:
    model_id: str
    name: str
    target_type: TargetType
    target_name: str
    features: tuple[Feature, ...]
    class_labels: tuple[Label, ...] = ()
    positive_class: Label | None = None
    negative_class: Label | None = None
    prediction_threshold: float = 0.5
    outputs: dict[str, str] = field(default_factory=dict)
    extra_outputs: tuple[str, ...] = ()
    sha256: str | None = None
    training_stats: dict[str, Any] = field(default_factory=dict)
    exposure: Exposure | None = None
    raw: dict[str, Any] = field(default_factory=dict, repr=False)

    @property
    def is_classification(self) -> bool:
        return self.target_type is not TargetType.REGRESSION

    @classmethod
    def from_dict(cls, doc: Any) -> ModelMetadata:
        if not isinstance(doc, dict):
            raise MetadataError("model metadata must be a mapping")
        model_id = str(doc.get("modelId", ""))
        if not OBJECT_ID.match(model_id):
            raise MetadataError("modelId must be a 24-character hex ObjectId")
        try:
            target_type = TargetType(str(doc.get("targetType")))
        except ValueError as exc:
            raise MetadataError("targetType must be Regression, Binary or Multiclass") from exc
        raw_features = doc.get("features")
        if not isinstance(raw_features, list) or not raw_features:
            raise MetadataError("features must be a non-empty list")
        features = []
        for item in raw_features:
            if not isinstance(item, dict) or not isinstance(item.get("name"), str):
                raise MetadataError("each feature needs a name")
            ftype = item.get("type", "numeric")
            if ftype not in ("numeric", "categorical"):
                raise MetadataError(f"feature {item['name']!r}: type must be numeric or categorical")
            features.append(Feature(item["name"], ftype))
        if len({f.name for f in features}) != len(features):
            raise MetadataError("feature names must be unique")
        labels = tuple(doc.get("classLabels") or ())
        threshold = float(doc.get("predictionThreshold", 0.5))
        positive = doc.get("positiveClassLabel")
        negative = doc.get("negativeClassLabel")
        if target_type is TargetType.BINARY:
            if len(labels) != 2:
                raise MetadataError("a Binary model needs exactly two classLabels")
            if positive is None:
                positive = labels[1]
            if positive not in labels:
                raise MetadataError("positiveClassLabel must be one of classLabels")
            negative = labels[0] if labels[1] == positive else labels[1]
            if not 0.0 <= threshold <= 1.0:
                raise MetadataError("predictionThreshold must be within [0, 1]")
        elif target_type is TargetType.MULTICLASS and len(labels) < 2:
            raise MetadataError("a Multiclass model needs at least two classLabels")
        extra = doc.get("extraOutputs") or []
        if not isinstance(extra, list) or not all(isinstance(e, str) for e in extra):
            raise MetadataError("extraOutputs must be a list of output names")
        exposure = _exposure(doc.get("exposure"), target_type, {f.name for f in features})
        return cls(
            model_id=model_id,
            name=str(doc.get("name", model_id)),
            target_type=target_type,
            target_name=str(doc.get("targetName", "target")),
            features=tuple(features),
            class_labels=labels,
            positive_class=positive,
            negative_class=negative,
            prediction_threshold=threshold,
            outputs=dict(doc.get("outputs") or {}),
            extra_outputs=tuple(extra),
            sha256=doc.get("sha256"),
            training_stats=dict(doc.get("trainingStats") or {}),
            exposure=exposure,
            raw=doc,
        )


def _exposure(raw: Any, target_type: TargetType, features: set[str]) -> Exposure | None:
    if raw is None:
        return None
    if not isinstance(raw, dict) or not isinstance(raw.get("column"), str) or not raw["column"]:
        raise MetadataError("exposure must be a mapping with the exposure column's name (column)")
    if target_type is not TargetType.REGRESSION:
        raise MetadataError("exposure is for Regression models only")
    link = str(raw.get("link", "log"))
    if link not in EXPOSURE_LINKS:
        raise MetadataError(f"exposure.link must be one of {', '.join(EXPOSURE_LINKS)}")
    if raw["column"] in features:
        raise MetadataError("the exposure column is an offset, not one of the model's features")
    return Exposure(column=raw["column"], link=link)
