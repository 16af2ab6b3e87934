"""The README's serve command: starts on $PORT, prints a curl line, and that line works as printed."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import time

import pytest

from conftest import ROOT, free_port


@pytest.mark.skipif(shutil.which("curl") is None, reason="curl is not installed")
def test_server_prints_a_working_curl_line():
    port = free_port()
    env = {**os.environ, "PORT": str(port), "LOG_LEVEL": "warning"}
    process = subprocess.Popen(
        [sys.executable, "-m", "drcompat.api.server"],
        cwd=ROOT,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    try:
        assert process.stdout is not None
        curl_line = ""
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline and not curl_line:
            line = process.stdout.readline()
            if line.strip().startswith("curl "):
                curl_line = line.strip()
        assert f":{port}/" in curl_line
        for _ in range(100):
            result = subprocess.run(["bash", "-c", curl_line], cwd=ROOT, capture_output=True, text=True, timeout=30)
            if result.returncode == 0 and result.stdout:
                break
            time.sleep(0.1)
        body = json.loads(result.stdout)
        assert len(body["data"]) == 20
        assert {row["prediction"] for row in body["data"]} <= {0, 1}
    finally:
        process.terminate()
        process.wait(10)
