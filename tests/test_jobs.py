"""Custom jobs: metadata.yaml checks, runtime parameters as DRUM reads them, runs, templates, CLI."""

from __future__ import annotations

import io
import json
import os
import socket
import sys
import zipfile
from pathlib import Path

import pytest

from drcompat.errors import BadRequest
from drcompat.jobs import cli
from drcompat.jobs.credentials import CredentialError, LocalCredentialStore
from drcompat.jobs.folder import add_file, load_job, unpack_archive
from drcompat.jobs.limits import JobLimits
from drcompat.jobs.metadata import JobMetadataError, parse_metadata
from drcompat.jobs.parameters import RuntimeParameterError, environment, resolve, secrets
from drcompat.jobs.runner import JobRunError, isolation_prefix, run_job
from drcompat.jobs.templates import gallery, new_job

GOOD = """name: demo
runtimeParameterDefinitions:
- fieldName: text
  type: string
  defaultValue: hi
- fieldName: flag
  type: boolean
  defaultValue: true
- fieldName: count
  type: numeric
  defaultValue: 2
  minValue: 0
  maxValue: 5
- fieldName: deployment
  type: deployment
- fieldName: secret
  type: credential
  credentialType: basic
- fieldName: required_text
  type: string
  allowEmpty: false
  defaultValue: present
"""

BAD_METADATA = [
    ("bad yaml", "runtimeParameterDefinitions: [\n  - fieldName: x\n", "line", "metadata.yaml"),
    ("not a mapping", "- just\n- a list\n", "top level", ""),
    ("unknown type", "runtimeParameterDefinitions:\n- fieldName: a\n  type: text\n", "unknown type 'text'", "line 2"),
    (
        "numeric default of the wrong type",
        "runtimeParameterDefinitions:\n- fieldName: a\n  type: numeric\n  defaultValue: many\n",
        "defaultValue must be a number",
        "line 2",
    ),
    (
        "boolean default of the wrong type",
        "runtimeParameterDefinitions:\n- fieldName: a\n  type: boolean\n  defaultValue: maybe\n",
        "true or false",
        "(a)",
    ),
    (
        "min greater than max",
        "runtimeParameterDefinitions:\n- fieldName: a\n  type: numeric\n  minValue: 5\n  maxValue: 1\n",
        "minValue 5 is greater than maxValue 1",
        "line 2",
    ),
    (
        "default outside range",
        "runtimeParameterDefinitions:\n- fieldName: a\n  type: numeric\n"
        "  minValue: 0\n  maxValue: 1\n  defaultValue: 3\n",
        "outside",
        "(a)",
    ),
    (
        "duplicate names",
        "runtimeParameterDefinitions:\n- fieldName: a\n  type: string\n- fieldName: a\n  type: boolean\n",
        "duplicate fieldName 'a' (first defined on line 2)",
        "line 4",
    ),
    (
        "default on a credential",
        "runtimeParameterDefinitions:\n- fieldName: c\n  type: credential\n  defaultValue: x\n",
        "cannot have a defaultValue",
        "(c)",
    ),
    (
        "unknown credential type",
        "runtimeParameterDefinitions:\n- fieldName: c\n  type: credential\n  credentialType: kerberos\n",
        "unknown credentialType 'kerberos'",
        "(c)",
    ),
    ("missing fieldName", "runtimeParameterDefinitions:\n- type: string\n", "fieldName", "line 2"),
    (
        "unknown key",
        "runtimeParameterDefinitions:\n- fieldName: a\n  type: string\n  colour: red\n",
        "unknown key 'colour'",
        "(a)",
    ),
    (
        "min on a string",
        "runtimeParameterDefinitions:\n- fieldName: a\n  type: string\n  minValue: 1\n",
        "numeric parameters only",
        "(a)",
    ),
    ("definitions not a list", "runtimeParameterDefinitions: {a: 1}\n", "must be a list", ""),
]


@pytest.mark.parametrize(("text", "words", "where"), [c[1:] for c in BAD_METADATA], ids=[c[0] for c in BAD_METADATA])
def test_bad_metadata_names_the_problem(text, words, where):
    with pytest.raises(JobMetadataError) as caught:
        parse_metadata(text)
    assert words in caught.value.message
    assert where in caught.value.message
    assert caught.value.status == 400


def test_good_metadata_parses():
    meta = parse_metadata(GOOD)
    assert [p.field_name for p in meta.parameters] == ["text", "flag", "count", "deployment", "secret", "required_text"]
    assert meta.parameter("count").default == 2.0 and meta.parameter("count").max_value == 5.0
    assert parse_metadata("").parameters == ()


BASIC = {"credentialType": "basic", "user": "ann", "password": "p@ss-w0rd-42"}


@pytest.mark.parametrize(
    ("values", "words"),
    [
        ({"count": 7}, "outside [0.0, 5.0]"),
        ({"count": "lots"}, "must be a number"),
        ({"count": True}, "must be a number"),
        ({"flag": "perhaps"}, "true or false"),
        ({"text": 5}, "must be text"),
        ({"deployment": "not-an-id"}, "deployment id"),
        ({"required_text": ""}, "must be set"),
        ({"secret": {"credentialType": "basic", "user": "ann"}}, "needs password"),
        (
            {"secret": {"credentialType": "s3", "awsAccessKeyId": "a", "awsSecretAccessKey": "b"}},
            "needs a basic credential",
        ),
        ({"secret": "stored-name"}, "no credential store"),
        ({"nope": 1}, "Unknown runtime parameter 'nope'"),
    ],
)
def test_bad_values_are_refused_before_the_job_starts(values, words):
    with pytest.raises(RuntimeParameterError) as caught:
        resolve(parse_metadata(GOOD), values)
    assert words in caught.value.message


def test_values_layer_defaults_job_then_run():
    meta = parse_metadata(GOOD)
    resolved = {p.name: p.payload for p in resolve(meta, {"count": 3, "text": "job"}, {"text": "run", "flag": "false"})}
    assert resolved == {
        "text": "run",
        "flag": False,
        "count": 3.0,
        "deployment": None,
        "secret": None,
        "required_text": "present",
    }


def test_environment_is_read_back_by_datarobot_drum(monkeypatch):
    from datarobot_drum import RuntimeParameters

    meta = parse_metadata(GOOD)
    values = {"count": "4", "deployment": "65f1a0000000000000000001", "secret": BASIC, "flag": False}
    env = environment(resolve(meta, values))
    assert set(env) == {f"MLOPS_RUNTIME_PARAM_{p.field_name}" for p in meta.parameters}
    for key, value in env.items():
        monkeypatch.setenv(key, value)
    assert RuntimeParameters.get("text") == "hi"
    assert RuntimeParameters.get("flag") is False
    assert RuntimeParameters.get("count") == 4.0
    assert RuntimeParameters.get("deployment") == "65f1a0000000000000000001"
    assert RuntimeParameters.get("secret")["password"] == BASIC["password"]
    assert RuntimeParameters.get("required_text") == "present"


def test_credential_store_by_name_and_owner_only(tmp_path):
    store = LocalCredentialStore(tmp_path / "credentials.yaml")
    store.put("warehouse", BASIC)
    assert oct((tmp_path / "credentials.yaml").stat().st_mode & 0o777) == "0o600"
    payload = resolve(parse_metadata(GOOD), {"secret": "warehouse"}, credentials=store)[4].payload
    assert payload["user"] == "ann" and payload["name"] == "warehouse"
    with pytest.raises(CredentialError, match="No credential named"):
        store.get("missing")
    os.chmod(tmp_path / "credentials.yaml", 0o644)
    with pytest.raises(CredentialError, match="chmod 600"):
        store.get("warehouse")
    with pytest.raises(CredentialError):
        store.put("bad", {"credentialType": "gcp"})


def write_job(folder: Path, script: str, metadata: str = GOOD) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "run.sh").write_text(script)
    (folder / "metadata.yaml").write_text(metadata)
    return folder


def test_run_success_failure_and_masked_log(tmp_path):
    job = write_job(tmp_path / "job", 'echo "user=$DB_USER pass=$DB_PASS"\necho working in "$(pwd)"\ntouch made-here\n')
    result = run_job(job, {"DB_USER": "ann", "DB_PASS": "p@ss-w0rd-42"}, secrets=["p@ss-w0rd-42"])
    assert result.status == "succeeded" and result.exit_code == 0
    assert "p@ss-w0rd-42" not in result.log and "pass=*****" in result.log
    assert not (job / "made-here").exists()  # the run works in a fresh copy
    failed = run_job(write_job(tmp_path / "bad", "echo about to fail >&2\nexit 3\n"), {})
    assert failed.status == "failed" and failed.exit_code == 3 and "about to fail" in failed.log


def test_run_time_limit(tmp_path):
    result = run_job(write_job(tmp_path / "slow", "echo start\nsleep 30\necho never\n"), {}, timeout_seconds=3)
    assert result.status == "timedOut" and result.exit_code is None
    assert "start" in result.log and "never" not in result.log and "time limit" in result.log


def test_posix_sh_not_bash(tmp_path):
    result = run_job(write_job(tmp_path / "bashism", "arr=(a b)\necho ${arr[1]}\n"), {})
    assert result.status == "failed"  # arrays are a bash feature; sh refuses them


@pytest.mark.skipif(isolation_prefix() is None, reason="this machine cannot create network namespaces")
def test_network_none_has_no_network(tmp_path):
    with socket.socket() as server:
        server.bind(("127.0.0.1", 0))
        server.listen(1)
        port = server.getsockname()[1]
        probe = f"{sys.executable} -c \"import socket; socket.create_connection(('127.0.0.1', {port}), timeout=2)\""
        job = write_job(tmp_path / "net", f"{probe} && echo connected || echo isolated\n")
        assert "connected" in run_job(job, {}, network="public").log
        assert "isolated" in run_job(job, {}, network="none").log


def test_network_none_refused_when_isolation_is_impossible(tmp_path, monkeypatch):
    monkeypatch.setattr("drcompat.jobs.runner.isolation_prefix", lambda: None)
    with pytest.raises(JobRunError, match="refused"):  # the trusted opt-out still needs a network namespace
        run_job(write_job(tmp_path / "j", "echo hi\n"), {}, network="none", limits=JobLimits(sandbox="off"))


def test_runs_refused_where_no_sandbox_can_be_made(tmp_path, monkeypatch):
    monkeypatch.setattr("drcompat.jobs.sandbox.bwrap_path", lambda: None)
    with pytest.raises(JobRunError, match="DRC_JOB_SANDBOX=off"):
        run_job(write_job(tmp_path / "j", "echo hi\n"), {})
    trusted = run_job(write_job(tmp_path / "t", "echo trusted\n"), {}, limits=JobLimits(sandbox="off"))
    assert trusted.status == "succeeded" and "trusted" in trusted.log


def test_entry_point_rules(tmp_path):
    job = tmp_path / "job"
    job.mkdir()
    (job / "metadata.yaml").write_text(GOOD)
    (job / "train.sh").write_text("echo trained\n")
    assert load_job(job).entry == "train.sh"  # the only .sh
    (job / "other.sh").write_text("echo other\n")
    with pytest.raises(BadRequest, match=r"entry point"):
        load_job(job)
    assert load_job(job, "other.sh").entry == "other.sh"
    with pytest.raises(BadRequest):
        load_job(job, "../evil.sh")
    (job / "metadata.yaml").unlink()
    with pytest.raises(BadRequest, match=r"metadata\.yaml"):
        load_job(job, "other.sh")


def test_files_replace_and_archives_cannot_escape(tmp_path):
    job = tmp_path / "job"
    add_file(job, "run.sh", b"echo one\n")
    add_file(job, "run.sh", b"echo two\n")
    assert (job / "run.sh").read_text() == "echo two\n"
    for name in ["../escape.txt", "/etc/passwd", "a/../../b", "..\\win.txt"]:
        buffer = io.BytesIO()
        with zipfile.ZipFile(buffer, "w") as archive:
            archive.writestr(name, "x")
        with pytest.raises(BadRequest, match="outside the job"):
            unpack_archive(job, buffer.getvalue())
    assert not (tmp_path / "escape.txt").exists()
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        archive.writestr("lib/helper.py", "print('ok')")
    assert [p.relative_to(job).as_posix() for p in unpack_archive(job, buffer.getvalue())] == ["lib/helper.py"]
    with pytest.raises(BadRequest, match="zip"):
        unpack_archive(job, b"not a zip")


def test_templates_and_the_sample_job_run_end_to_end(tmp_path, capsys):
    assert {"sample", "retraining"} <= set(gallery())
    job = tmp_path / "sample"
    written = {p.name for p in new_job(job)}
    assert {"run.sh", "metadata.yaml", "README.md", "job.py"} <= written
    (job / "run.sh").write_text((job / "run.sh").read_text().replace("python3", sys.executable))
    values = tmp_path / "values.yaml"
    values.write_text(
        "message: Good morning\nrepeat: 2\napi_credential:\n  credentialType: api_token\n  apiToken: tok-secret-9876\n"
    )
    code = cli.main(["run", str(job), "--runtime-params-file", str(values)])
    out = capsys.readouterr().out
    assert code == 0
    assert out.splitlines().count("Good morning") == 2
    assert "tok-secret-9876" not in out
    assert "parameter repeat = 2.0" in out
    single = new_job(tmp_path / "single", file="job.py")
    assert [p.name for p in single] == ["job.py"]


def test_cli_reports_bad_input_without_a_trace(tmp_path, capsys):
    job = write_job(tmp_path / "job", "echo hi\n")
    values = tmp_path / "values.yaml"
    values.write_text("count: 99\n")
    assert cli.main(["run", str(job), "--runtime-params-file", str(values)]) == 2
    err = capsys.readouterr().err
    assert "outside" in err and "Traceback" not in err
    (job / "metadata.yaml").write_text("runtimeParameterDefinitions:\n- fieldName: a\n  type: nope\n")
    assert cli.main(["run", str(job)]) == 2
    assert "unknown type 'nope'" in capsys.readouterr().err
    assert cli.main(["run", str(write_job(tmp_path / "fails", "exit 4\n"))]) == 1


def test_job_environment_does_not_leak_the_service_secrets(tmp_path, monkeypatch):
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "service-secret")
    result = run_job(
        write_job(tmp_path / "env", "env\n"), {"MLOPS_RUNTIME_PARAM_x": json.dumps({"type": "string", "payload": "v"})}
    )
    assert "service-secret" not in result.log
    assert "MLOPS_RUNTIME_PARAM_x" in result.log


def test_secrets_helper_lists_credential_values():
    resolved = resolve(parse_metadata(GOOD), {"secret": BASIC})
    assert set(secrets(resolved)) == {"ann", "p@ss-w0rd-42"}


def test_cli_credential_then_a_run_that_references_it(tmp_path, capsys):
    store = tmp_path / "store" / "credentials.yaml"
    source = tmp_path / "cred.yaml"
    source.write_text("credentialType: basic\nuser: ann\npassword: pw-from-store-77\n")
    assert cli.main(["credential", "warehouse", "--from-file", str(source), "--store", str(store)]) == 0
    assert oct(store.stat().st_mode & 0o777) == "0o600"
    job = write_job(tmp_path / "job", 'echo "$MLOPS_RUNTIME_PARAM_secret"\n')
    values = tmp_path / "values.yaml"
    values.write_text("secret: warehouse\n")
    capsys.readouterr()
    assert cli.main(["run", str(job), "--runtime-params-file", str(values), "--credentials", str(store)]) == 0
    out = capsys.readouterr().out
    assert '"user": "*****"' in out and "pw-from-store-77" not in out
