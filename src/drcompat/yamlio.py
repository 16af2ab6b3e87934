"""YAML through libyaml's C parser when PyYAML has it (its wheels do): model.yaml and
deployments.yaml are parsed at cold start and on every registry reload, where the pure-Python
parser costs tens of milliseconds per file."""

from __future__ import annotations

from typing import Any

import yaml

SafeLoader: type[yaml.SafeLoader] = getattr(yaml, "CSafeLoader", yaml.SafeLoader)


def load_yaml(data: str | bytes) -> Any:
    return yaml.load(data, Loader=SafeLoader)  # noqa: S506 - a safe loader (C or Python)
