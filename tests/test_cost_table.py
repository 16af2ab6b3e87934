"""scripts/cost_table.py: the pricing arithmetic, on durations given, against pricing.yaml."""

from __future__ import annotations

import importlib.util
import sys

import pytest
import yaml

from conftest import ROOT


@pytest.fixture(scope="module")
def cost():
    sys.path.insert(0, str(ROOT / "scripts"))
    spec = importlib.util.spec_from_file_location("cost_table", ROOT / "scripts" / "cost_table.py")
    assert spec and spec.loader
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@pytest.fixture(scope="module")
def prices():
    return yaml.safe_load((ROOT / "pricing.yaml").read_text())


def durations(ms: float, request_bytes: int, response_bytes: int = 1000) -> dict:
    event = {"ms": ms, "request_bytes": request_bytes, "response_bytes": response_bytes}
    return {door: {"1": dict(event)} for door in ("rest", "http-api", "function-url", "function-url-stream", "asgi")}


def row(lines: list[str], label: str, arch: str) -> float:
    line = next(line for line in lines if line.startswith(label) and f" {arch} " in line)
    return float(line.split("|")[1])


def test_pricing_file_names_its_date_and_region(prices):
    assert prices["region"] == "us-east-1" and prices["as_of"]
    assert set(prices["lambda"]["gb_second"]) == {"arm64", "x86_64"}


def test_door_and_lambda_prices_add_up(cost, prices):
    lines = cost.table(durations(4.2, 1000), prices, 1024)  # 4.2 ms is billed as 5 ms
    lam = prices["lambda"]
    work = {arch: 0.20 + 0.005 * lam["gb_second"][arch] * 1e6 for arch in ("arm64", "x86_64")}
    assert row(lines, "REST API", "arm64") == pytest.approx(3.50 + work["arm64"], abs=0.006)
    assert row(lines, "REST API", "x86_64") == pytest.approx(3.50 + work["x86_64"], abs=0.006)
    assert row(lines, "HTTP API", "arm64") == pytest.approx(1.00 + work["arm64"], abs=0.006)
    assert row(lines, "Function URL, buffered", "arm64") == pytest.approx(work["arm64"], abs=0.006)
    assert "us-east-1" in lines[0] and prices["as_of"] in lines[0]


def test_http_api_is_metered_per_512_kb_of_request(cost, prices):
    lines = cost.table(durations(1.0, 600_000), prices, 1024)
    one_ms = 0.20 + 0.001 * prices["lambda"]["gb_second"]["arm64"] * 1e6
    assert row(lines, "HTTP API", "arm64") == pytest.approx(2 * 1.00 + one_ms, abs=0.006)


def test_memory_scales_the_duration_price_and_sagemaker_charges_data(cost, prices):
    small = row(cost.table(durations(100.0, 1000), prices, 1024), "Function URL, buffered", "arm64")
    large = row(cost.table(durations(100.0, 1000), prices, 2048), "Function URL, buffered", "arm64")
    assert large - 0.20 == pytest.approx(2 * (small - 0.20), rel=0.01)
    sm = prices["sagemaker_serverless"]
    lines = cost.table(durations(100.0, 2**29, 2**29), prices, 1024)  # 1 GiB moved per request
    sagemaker = next(line for line in lines if line.startswith("SageMaker"))
    expected = (0.1 * sm["gb_second"] + sm["data_processed_per_gb"]) * 1e6
    assert float(sagemaker.split("|")[1]) == pytest.approx(expected, rel=0.001)
