"""`llmops-ci register` and `registry show` against real MLflow stores:
the default sqlite file and an `mlflow server` backed by PostgreSQL."""

from __future__ import annotations

import json
import time

import pytest

from conftest import make_tiny_model, run_cli


def register(project, model, *extra):
    return run_cli("register", "--config", str(project / "llmops.yaml"), "--model", str(model), "--format", "json", *extra,
                   cwd=project)


def show(project, *extra):
    proc = run_cli("registry", "show", "--config", str(project / "llmops.yaml"), "--format", "json", *extra, cwd=project)
    assert proc.returncode == 0, proc.stderr
    return json.loads(proc.stdout)


def check_provenance(project, version: dict, model_dir):
    from llmops_ci.config import load_config
    from llmops_ci.provenance import sha256_file, sha256_tree

    config = load_config(project / "llmops.yaml")
    prov = version["provenance"]
    assert prov["content_sha256"] == sha256_tree(model_dir)
    assert prov["config_sha256"] == config.sha256
    assert prov["dataset.train.sha256"] == sha256_file(project / "data" / "train.jsonl")
    assert prov["base_model"] == "builtin:tiny-gpt2"
    assert "git_commit" in prov or prov.get("git_dirty") is None
    assert json.loads(prov["packages"])["mlflow"]


@pytest.mark.slow
def test_register_twice_on_sqlite_gives_one_version(project, tiny_model):
    first = register(project, tiny_model)
    assert first.returncode == 0, first.stderr
    result = json.loads(first.stdout)
    assert result["created"] is True and result["version"] == 1 and result["aliases"] == ["candidate"]
    second = register(project, tiny_model)
    assert second.returncode == 0, second.stderr
    again = json.loads(second.stdout)
    assert again["created"] is False and again["version"] == 1
    versions = show(project)
    assert [v["version"] for v in versions] == [1]
    assert versions[0]["aliases"] == ["candidate"]
    check_provenance(project, versions[0], tiny_model)
    record = json.loads((project / ".llmops" / "run.json").read_text())
    assert record["stages"]["register"]["status"] == "succeeded"
    assert record["stages"]["register"]["artifacts"]["model"] == "models:/clinic-assistant/1"


@pytest.mark.slow
def test_new_content_gets_new_version_and_candidate_moves(project, tiny_model, tmp_path):
    assert register(project, tiny_model).returncode == 0
    other = make_tiny_model(tmp_path / "other", seed=1)
    proc = register(project, other)
    assert proc.returncode == 0, proc.stderr
    assert json.loads(proc.stdout)["version"] == 2
    by_version = {v["version"]: v for v in show(project)}
    assert by_version[2]["aliases"] == ["candidate"] and by_version[1]["aliases"] == []


@pytest.mark.slow
def test_resolve_alias_and_download(project, tiny_model, tmp_path):
    from llmops_ci.config import load_config
    from llmops_ci.provenance import sha256_file
    from llmops_ci.registry import open_registry

    assert register(project, tiny_model).returncode == 0
    registry = open_registry(load_config(project / "llmops.yaml"))
    import os

    assert "MLFLOW_TRACKING_URI" not in os.environ  # in-process use must not leak into child processes
    info = registry.resolve("models:/clinic-assistant@candidate")
    assert info.version == 1
    assert registry.resolve("models:/clinic-assistant/1").version == 1
    local = registry.download(info, tmp_path / "dl")
    assert sha256_file(local / "model.safetensors") == sha256_file(tiny_model / "model.safetensors")
    from llmops_ci.errors import BadInput

    with pytest.raises(BadInput, match="no version of clinic-assistant has alias `production` yet"):
        registry.resolve("models:/clinic-assistant@production")


def test_model_dir_without_config_json_changes_nothing(project, tmp_path):
    bad = tmp_path / "bad"
    bad.mkdir()
    (bad / "model.safetensors").write_bytes(b"x")
    proc = register(project, bad)
    assert proc.returncode == 2
    assert proc.stderr.strip() == f"{bad}: not a model directory: no config.json (expected a folder saved by save_pretrained)"
    assert not (project / ".llmops").exists()  # no store, no record


def test_missing_model_dir(project, tmp_path):
    proc = register(project, tmp_path / "nowhere")
    assert proc.returncode == 2 and "model directory not found" in proc.stderr and "Traceback" not in proc.stderr


def test_register_without_model_needs_finetune_record(project):
    proc = run_cli("register", "--config", str(project / "llmops.yaml"), cwd=project)
    assert proc.returncode == 2 and "run record not found" in proc.stderr


def test_unreachable_registry_exits_3_naming_the_uri(project, tiny_model):
    from servers import free_port

    uri = f"http://127.0.0.1:{free_port()}"
    started = time.monotonic()
    proc = register(project, tiny_model, "--tracking-uri", uri)
    elapsed = time.monotonic() - started
    assert proc.returncode == 3, proc.stderr
    lines = proc.stderr.strip().splitlines()
    assert lines == [l for l in lines if uri in l] and len(lines) == 1, proc.stderr
    assert "cannot be reached after 3 attempts" in lines[0]
    assert elapsed < 120  # bounded retry, not MLflow's minutes-long default backoff
    assert not (project / ".llmops" / "run.json").exists() or "register" not in json.loads(
        (project / ".llmops" / "run.json").read_text())["stages"]


def test_password_in_tracking_uri_is_never_printed(project, tiny_model):
    from servers import free_port

    uri = f"http://user:hunter2secret@127.0.0.1:{free_port()}"
    proc = register(project, tiny_model, "--tracking-uri", uri)
    assert proc.returncode == 3
    assert "hunter2secret" not in proc.stderr + proc.stdout


@pytest.mark.slow
def test_register_twice_on_postgres_backed_server(project, tiny_model, mlflow_server):
    uri = mlflow_server.uri
    first = register(project, tiny_model, "--tracking-uri", uri)
    assert first.returncode == 0, first.stderr
    second = register(project, tiny_model, "--tracking-uri", uri)
    assert second.returncode == 0, second.stderr
    assert json.loads(second.stdout)["created"] is False
    versions = show(project, "--tracking-uri", uri)
    assert [v["version"] for v in versions] == [1]
    assert versions[0]["aliases"] == ["candidate"]
    check_provenance(project, versions[0], tiny_model)
    # The server really holds it: ask MLflow's REST API directly.
    import urllib.request

    with urllib.request.urlopen(f"{uri}/api/2.0/mlflow/registered-models/alias?name=clinic-assistant&alias=candidate") as resp:
        body = json.loads(resp.read())
    assert body["model_version"]["version"] == "1"
    tags = {t["key"]: t["value"] for t in body["model_version"]["tags"]}
    assert tags["llmops.content_sha256"] == versions[0]["provenance"]["content_sha256"]
