"""A local executor for the batch state machine: reads its definition from ``template.yaml`` and
runs it state by state, with Lambda tasks answered by local handlers and the distributed map's
ItemReader reading S3 (moto's server in the tests).

It interprets the subset of Amazon States Language the template uses (Task over
``lambda:invoke``, Map with ItemReader/ItemSelector/MaxConcurrency(Path), Catch, Fail, Succeed,
Pass; Parameters, ResultSelector, ResultPath, OutputPath; JSONPath ``$.a.b`` and
``$$.Map.Item.Value``), so a change to the definition is exercised without AWS.
"""

from __future__ import annotations

import copy
import json
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import yaml

LAMBDA_INVOKE = "arn:aws:states:::lambda:invoke"
S3_GET_OBJECT = "arn:aws:states:::s3:getObject"
Task = Callable[[dict[str, Any]], Any]


class ExecutionFailed(Exception):
    def __init__(self, error: str, cause: str = "") -> None:
        super().__init__(f"{error}: {cause}")
        self.error, self.cause = error, cause


class _CfnLoader(yaml.SafeLoader):
    """YAML with CloudFormation's short tags kept as plain mappings (``!Ref X`` -> ``{"Ref": X}``)."""


def _tag(loader: yaml.Loader, suffix: str, node: yaml.Node) -> Any:
    name = "Ref" if suffix == "Ref" else f"Fn::{suffix}"
    if isinstance(node, yaml.ScalarNode):
        return {name: loader.construct_scalar(node)}
    if isinstance(node, yaml.SequenceNode):
        return {name: loader.construct_sequence(node, deep=True)}
    return {name: loader.construct_mapping(node, deep=True)}  # type: ignore[arg-type]


_CfnLoader.add_multi_constructor("!", _tag)


def load_definition(template: Path, resource: str, substitutions: dict[str, str]) -> dict[str, Any]:
    """The state machine's ``Definition`` with ``${Name}`` substitutions applied."""
    doc = yaml.load(template.read_text(), Loader=_CfnLoader)  # noqa: S506 - SafeLoader subclass
    text = json.dumps(doc["Resources"][resource]["Properties"]["Definition"])
    for name, value in substitutions.items():
        text = text.replace("${" + name + "}", value)
    return dict(json.loads(text))


def _path(data: Any, path: str, context: dict[str, Any]) -> Any:
    if path.startswith("$$"):
        data, path = context, path[1:]
    if path == "$":
        return data
    for part in path[2:].split("."):
        data = data[part]
    return data


def _resolve(template: Any, data: Any, context: dict[str, Any]) -> Any:
    if isinstance(template, dict):
        out = {}
        for key, value in template.items():
            if key.endswith(".$"):
                out[key[:-2]] = copy.deepcopy(_path(data, value, context))
            else:
                out[key] = _resolve(value, data, context)
        return out
    if isinstance(template, list):
        return [_resolve(v, data, context) for v in template]
    return template


def _place(data: Any, path: str | None, result: Any) -> Any:
    if path is None:
        return data
    if path == "$":
        return result
    out = copy.deepcopy(data)
    target = out
    parts = path[2:].split(".")
    for part in parts[:-1]:
        target = target.setdefault(part, {})
    target[parts[-1]] = result
    return out


class LocalStateMachine:
    def __init__(self, definition: dict[str, Any], tasks: dict[str, Task], s3: Any = None, workers: int = 2) -> None:
        self.definition = definition
        self.tasks = tasks
        self.s3 = s3
        self.workers = workers
        self.visited: list[str] = []

    def run(self, data: dict[str, Any]) -> Any:
        return self._machine(self.definition, data, {})

    def _machine(self, machine: dict[str, Any], data: Any, context: dict[str, Any]) -> Any:
        name = machine["StartAt"]
        while True:
            state = machine["States"][name]
            self.visited.append(name)
            kind = state["Type"]
            if kind == "Fail":
                raise ExecutionFailed(state.get("Error", "States.Fail"), state.get("Cause", ""))
            if kind == "Succeed":
                return data
            try:
                result = self._task(state, data, context) if kind == "Task" else None
                if kind == "Map":
                    result = self._map(state, data, context)
                if kind == "Pass":
                    result = state.get("Result", data)
            except ExecutionFailed as exc:
                handler = next(
                    (c for c in state.get("Catch", []) if {exc.error, "States.ALL"} & set(c["ErrorEquals"])), None
                )
                if handler is None:
                    raise
                data = _place(data, handler.get("ResultPath", "$"), {"Error": exc.error, "Cause": exc.cause})
                name = handler["Next"]
                continue
            if "ResultSelector" in state:
                result = _resolve(state["ResultSelector"], result, context)
            data = _place(data, state.get("ResultPath", "$"), result)
            if "OutputPath" in state:
                data = _path(data, state["OutputPath"], context)
            if state.get("End"):
                return data
            name = state["Next"]

    def _task(self, state: dict[str, Any], data: Any, context: dict[str, Any]) -> Any:
        if state["Resource"] != LAMBDA_INVOKE:
            raise ExecutionFailed("States.Runtime", f"unsupported resource {state['Resource']}")
        params = _resolve(state.get("Parameters", {}), data, context)
        task = self.tasks[params["FunctionName"]]
        try:
            payload = task(params.get("Payload", data))
        except Exception as exc:  # what Lambda reports for an unhandled error
            cause = json.dumps({"errorMessage": str(exc), "errorType": type(exc).__name__})
            raise ExecutionFailed(type(exc).__name__, cause) from exc
        return {"Payload": payload, "StatusCode": 200}

    def _items(self, state: dict[str, Any], data: Any, context: dict[str, Any]) -> list[Any]:
        reader = state.get("ItemReader")
        if reader is None:
            return list(_path(data, state.get("ItemsPath", "$"), context))
        if reader["Resource"] != S3_GET_OBJECT or reader.get("ReaderConfig", {}).get("InputType") != "JSON":
            raise ExecutionFailed("States.Runtime", "unsupported ItemReader")
        params = _resolve(reader["Parameters"], data, context)
        body = self.s3.get_object(Bucket=params["Bucket"], Key=params["Key"])["Body"].read()
        return list(json.loads(body))

    def _map(self, state: dict[str, Any], data: Any, context: dict[str, Any]) -> list[Any]:
        items = self._items(state, data, context)
        limit = state.get("MaxConcurrency") or 0
        if "MaxConcurrencyPath" in state:
            limit = int(_path(data, state["MaxConcurrencyPath"], context))
        processor = state.get("ItemProcessor") or state["Iterator"]

        def one(index: int) -> Any:
            item_context = {**context, "Map": {"Item": {"Index": index, "Value": items[index]}}}
            item = _resolve(state["ItemSelector"], data, item_context) if "ItemSelector" in state else items[index]
            return self._machine(processor, item, item_context)

        workers = max(1, min(self.workers, limit or self.workers))
        with ThreadPoolExecutor(max_workers=workers) as pool:
            futures = [pool.submit(one, i) for i in range(len(items))]
            results, failures = [], 0
            for future in futures:
                try:
                    results.append(future.result())
                except ExecutionFailed:
                    failures += 1
                    results.append(None)
        tolerated = float(state.get("ToleratedFailurePercentage", 0))
        if failures and 100.0 * failures / max(1, len(items)) > tolerated:
            raise ExecutionFailed("States.ExceedToleratedFailureThreshold", f"{failures} of {len(items)} items failed")
        return results
