"""``python -m drcompat.batch score``: local files and s3://, a progress bar, clear failures."""

from __future__ import annotations

import io
import subprocess
import sys

import pandas as pd

from conftest import AUTH, BINARY, ROOT, SAMPLES
from drcompat.batch.cli import main
from s3_server import make_bucket


def expected(client, data: bytes, query: str = "") -> pd.DataFrame:
    answer = client.post(
        f"/predApi/v1.0/deployments/{BINARY}/predictions{query}",
        content=data,
        headers={**AUTH, "Content-Type": "text/csv", "Accept": "text/csv"},
    )
    return pd.read_csv(io.BytesIO(answer.content))


def test_cli_scores_a_file_with_worker_processes(tmp_path, client, settings):
    frame = pd.concat([pd.read_csv(SAMPLES / "diabetes_binary.csv")] * 40, ignore_index=True)
    source = tmp_path / "in.csv"
    frame.to_csv(source, index=False)
    target = tmp_path / "out" / "scored.csv"
    env = {"DRC_STORAGE_ROOT": str(settings.storage_root), "PATH": "/usr/bin:/bin", "HOME": str(tmp_path)}
    done = subprocess.run(
        [
            sys.executable,
            "-m",
            "drcompat.batch",
            "score",
            str(source),
            str(target),
            "--deployment",
            BINARY,
            "--workers",
            "2",
            "--chunk-size",
            "32768",
            "--passthrough",
            "age",
        ],
        capture_output=True,
        text=True,
        env=env,
        cwd=ROOT,
        timeout=120,
    )
    assert done.returncode == 0, done.stderr
    assert "100.0%" in done.stderr and f"{len(frame):,} rows" in done.stderr
    pd.testing.assert_frame_equal(pd.read_csv(target), expected(client, source.read_bytes(), "?passthroughColumns=age"))


def test_cli_s3_to_s3_in_process(tmp_path, client, settings, s3_endpoint):
    s3 = make_bucket(s3_endpoint, "cli-bucket")
    data = (SAMPLES / "diabetes_binary.csv").read_bytes()
    s3.put_object(Bucket="cli-bucket", Key="in.csv", Body=data)
    err = io.StringIO()
    code = main(
        [
            "score",
            "s3://cli-bucket/in.csv",
            "s3://cli-bucket/out.csv",
            "--deployment",
            BINARY,
            "--workers",
            "1",
            "--chunk-size",
            "2048",
            "--endpoint-url",
            s3_endpoint,
        ],
        settings=settings,
        err=err,
    )
    assert code == 0, err.getvalue()
    body = s3.get_object(Bucket="cli-bucket", Key="out.csv")["Body"].read()
    pd.testing.assert_frame_equal(pd.read_csv(io.BytesIO(body)), expected(client, data))


def test_cli_reports_a_malformed_row_and_exits_1(tmp_path, settings):
    lines = (SAMPLES / "diabetes_binary.csv").read_text().splitlines()
    lines[4] = lines[4].replace(lines[4].split(",")[0], "old", 1)
    source = tmp_path / "bad.csv"
    source.write_text("\n".join(lines) + "\n")
    err = io.StringIO()
    code = main(
        ["score", str(source), str(tmp_path / "out.csv"), "--deployment", BINARY, "--workers", "1"], settings, err
    )
    assert code == 1
    assert "FAILED: Row 4 of the input is malformed: Column 'age' must be numeric, not 'old'." in err.getvalue()
    assert not (tmp_path / "out.csv").exists()
    err = io.StringIO()
    code = main(
        [
            "score",
            str(source),
            str(tmp_path / "out.csv"),
            "--deployment",
            BINARY,
            "--workers",
            "1",
            "--include-prediction-status",
            "--quiet",
        ],
        settings,
        err,
    )
    assert code == 0 and "1 failed" in err.getvalue()
    scored = pd.read_csv(tmp_path / "out.csv")
    assert scored.loc[3, "prediction_status"].startswith("Column 'age' must be numeric")
    assert main(["score", str(tmp_path / "missing.csv"), "x.csv", "--deployment", BINARY], settings, io.StringIO()) == 1
