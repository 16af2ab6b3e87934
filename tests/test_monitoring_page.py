"""The monitoring page in a real headless Chromium: its DOM after the script ran, and a screenshot
whose pixels must show the charts (the chart colours, many distinct colours), not a blank page."""

from __future__ import annotations

import shutil
import struct
import subprocess
import zlib
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import requests

from conftest import BINARY, SAMPLES, TOKEN
from test_monitoring import AUTH, local  # noqa: F401 - the fixture

CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser") or shutil.which("google-chrome")
pytestmark = pytest.mark.skipif(
    CHROMIUM is None, reason="no Chromium on this machine (make test installs it with apt-get where it can)"
)
BLUE = (0x2F, 0x80, 0xED)  # requests bars and the prediction bars
GREEN = (0x27, 0xAB, 0x83)  # accuracy line


def chromium(*args: str) -> subprocess.CompletedProcess[str]:
    assert CHROMIUM is not None
    command = [CHROMIUM, "--headless", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage"]
    command += ["--no-first-run", "--virtual-time-budget=8000", *args]
    return subprocess.run(command, capture_output=True, text=True, timeout=120, check=False)


def png_pixels(data: bytes) -> np.ndarray:
    """A minimal PNG reader (8-bit RGB/RGBA, non-interlaced: what Chromium writes)."""
    assert data[:8] == b"\x89PNG\r\n\x1a\n"
    pos, idat, width = 8, b"", 0
    channels = 4
    while pos < len(data):
        length, kind = struct.unpack(">I4s", data[pos : pos + 8])
        body = data[pos + 8 : pos + 8 + length]
        if kind == b"IHDR":
            width, _height, depth, color = struct.unpack(">IIBB", body[:10])
            assert depth == 8 and color in (2, 6)
            channels = 3 if color == 2 else 4
        elif kind == b"IDAT":
            idat += body
        pos += 12 + length
    raw = zlib.decompress(idat)
    stride = width * channels
    rows, previous = [], bytearray(stride)
    for y in range(len(raw) // (stride + 1)):
        kind, line = raw[y * (stride + 1)], bytearray(raw[y * (stride + 1) + 1 : (y + 1) * (stride + 1)])
        for i in range(stride):
            left = line[i - channels] if i >= channels else 0
            up, corner = previous[i], previous[i - channels] if i >= channels else 0
            if kind == 1:
                line[i] = (line[i] + left) & 255
            elif kind == 2:
                line[i] = (line[i] + up) & 255
            elif kind == 3:
                line[i] = (line[i] + (left + up) // 2) & 255
            elif kind == 4:
                p = left + up - corner
                pa, pb, pc = abs(p - left), abs(p - up), abs(p - corner)
                line[i] = (line[i] + (left if pa <= pb and pa <= pc else up if pb <= pc else corner)) & 255
        rows.append(bytes(line))
        previous = line
    return np.frombuffer(b"".join(rows), dtype=np.uint8).reshape(len(rows), width, channels)[:, :, :3]


def test_monitoring_page_renders_the_charts(local, tmp_path: Path):  # noqa: F811
    csv = {**AUTH, "Content-Type": "text/csv"}
    requests.patch(
        f"{local.url}/api/v2/deployments/{BINARY}/settings/",
        json={"associationId": {"columnNames": ["visit"]}},
        headers=AUTH,
        timeout=30,
    ).raise_for_status()
    rows = pd.read_csv(SAMPLES / "diabetes_binary.csv")
    rows["visit"] = [f"v-{i}" for i in range(len(rows))]
    scoring = f"{local.url}/predApi/v1.0/deployments/{BINARY}/predictions"
    assert requests.post(scoring, data=rows.to_csv(index=False), headers=csv, timeout=30).ok
    local.flush()
    actuals = {"data": [{"associationId": f"v-{i}", "actualValue": i % 2} for i in range(len(rows))]}
    assert (
        requests.post(
            f"{local.url}/api/v2/deployments/{BINARY}/actuals/fromJSON/", json=actuals, headers=AUTH, timeout=30
        ).status_code
        == 202
    )
    page = f"{local.url}/deployments/{BINARY}/monitoring#token={TOKEN}"

    dom = chromium("--dump-dom", page)
    assert dom.returncode == 0, dom.stderr[-2000:]
    html = dom.stdout
    assert 'data-loaded="true"' in html, html[-3000:]
    assert "Diabetes progression (binary)" in html
    for feature in ("age", "sex", "bmi", "bp", "s1", "s2", "s3", "s4", "s5", "s6"):
        assert f'data-name="{feature}"' in html  # one point per feature on the drift chart
    assert 'class="actual"' in html and 'class="baseline"' in html  # predictions vs baseline bars
    assert "Accuracy over time (LogLoss)" in html and 'class="empty"' not in html
    assert TOKEN not in html  # the token left the address bar

    shot = tmp_path / "monitoring.png"  # kept by pytest under its basetemp for a look
    result = chromium(f"--screenshot={shot}", "--window-size=1200,1000", page)
    assert result.returncode == 0 and shot.exists(), result.stderr[-2000:]
    pixels = png_pixels(shot.read_bytes())
    colours = {tuple(p) for p in pixels.reshape(-1, 3)[::7]}
    assert len(colours) > 50  # text, axes and charts, not a blank or an error page
    for colour in (BLUE, GREEN):
        assert np.all(np.abs(pixels.astype(int) - colour) <= 2, axis=2).sum() > 10, colour


def test_monitoring_page_without_token_says_how_to_open_it(local):  # noqa: F811
    dom = chromium("--dump-dom", f"{local.url}/deployments/{BINARY}/monitoring")
    assert "#token=" in dom.stdout and 'data-loaded="true"' not in dom.stdout
