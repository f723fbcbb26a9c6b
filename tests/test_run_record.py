"""The run record: provenance written by a stage, read by the next, corruption caught."""

from __future__ import annotations

import hashlib
import json

import pytest

from llmops_ci.config import load_config
from llmops_ci.errors import BadInput
from llmops_ci.provenance import sha256_file, sha256_tree
from llmops_ci.run_record import RunRecord, record_path


def test_new_record_holds_provenance(project):
    config = load_config(project / "llmops.yaml")
    record = RunRecord.new(config, record_path(config))
    record.save()
    data = json.loads((project / ".llmops" / "run.json").read_text())
    train = project / "data" / "train.jsonl"
    assert data["datasets"]["train"][0]["sha256"] == hashlib.sha256(train.read_bytes()).hexdigest()
    assert data["datasets"]["train"][0]["bytes"] == train.stat().st_size
    assert data["config"]["sha256"] == config.sha256
    assert data["packages"]["llmops-ci"]
    assert len(data["run_id"]) == 32
    assert RunRecord.load(record.path).data == data  # it passes its own schema


def test_git_commit_and_dirty_flag(project):
    import subprocess

    def git(*args):
        subprocess.run(["git", *args], cwd=project, check=True, capture_output=True)

    git("init", "-q")
    git("-c", "user.email=t@e", "-c", "user.name=t", "add", ".")
    git("-c", "user.email=t@e", "-c", "user.name=t", "commit", "-qm", "init")
    head = subprocess.run(["git", "rev-parse", "HEAD"], cwd=project, capture_output=True, text=True).stdout.strip()
    config = load_config(project / "llmops.yaml")
    clean = RunRecord.new(config, record_path(config)).data["git"]
    assert clean["commit"] == head and clean["dirty"] is False
    (project / "data" / "train.jsonl").write_text('{"prompt": "a", "completion": "b"}\n')
    assert RunRecord.new(config, record_path(config)).data["git"]["dirty"] is True


def test_path_override_by_flag_and_env(project, monkeypatch, tmp_path):
    config = load_config(project / "llmops.yaml")
    assert record_path(config) == project / ".llmops" / "run.json"
    monkeypatch.setenv("LLMOPS_RUN_RECORD", str(tmp_path / "env.json"))
    assert record_path(config) == tmp_path / "env.json"
    assert record_path(config, str(tmp_path / "flag.json")) == tmp_path / "flag.json"


@pytest.mark.parametrize("content, expected", [
    ("{not json", "not JSON"),
    ('{"schema_version": 1}', "run record is corrupt at (top level)"),
])
def test_corrupt_record_is_a_clear_error(tmp_path, content, expected):
    path = tmp_path / "run.json"
    path.write_text(content)
    with pytest.raises(BadInput) as info:
        RunRecord.load(path)
    assert str(path) in str(info.value) and expected in str(info.value) and "delete it" in str(info.value)


def test_missing_record_is_a_clear_error(tmp_path):
    with pytest.raises(BadInput, match="run record not found"):
        RunRecord.load(tmp_path / "run.json")


def test_stage_failure_is_recorded_without_secrets(project, monkeypatch):
    monkeypatch.setenv("MY_API_TOKEN", "s3cr3t-value-123")
    config = load_config(project / "llmops.yaml")
    record = RunRecord.new(config, record_path(config))
    with pytest.raises(BadInput):
        with record.running("register"):
            raise BadInput("could not use s3cr3t-value-123 at https://user:pw123456@host/x")
    stored = (project / ".llmops" / "run.json").read_text()
    assert "s3cr3t-value-123" not in stored and "pw123456" not in stored
    stage = json.loads(stored)["stages"]["register"]
    assert stage["status"] == "failed" and stage["exit_code"] == 2


def test_hashes_are_streamed_and_stable(tmp_path):
    big = tmp_path / "big.bin"
    with open(big, "wb") as fh:
        for i in range(5):
            fh.write(bytes([i]) * (1 << 20) + b"x")  # crosses chunk boundaries
    assert sha256_file(big) == hashlib.sha256(big.read_bytes()).hexdigest()
    a, b = tmp_path / "a", tmp_path / "b"
    for d in (a, b):
        (d / "sub").mkdir(parents=True)
        (d / "sub" / "w.bin").write_bytes(b"weights")
        (d / "config.json").write_text("{}")
    assert sha256_tree(a) == sha256_tree(b)
    (b / "sub" / "w.bin").write_bytes(b"weightz")
    assert sha256_tree(a) != sha256_tree(b)


def test_recorded_model_is_found_in_a_checkout_in_another_folder(project, tmp_path):
    """A record written by a finetune job in one folder, read by an evaluate job whose checkout
    sits elsewhere (another runner, another machine): the project-relative path wins."""
    from llmops_ci.config import load_config
    from llmops_ci.run_record import recorded_model, relative_to_project

    config = load_config(project / "llmops.yaml")
    (project / ".llmops" / "model" / "final").mkdir(parents=True)
    elsewhere = "/builds/other-runner/repo/.llmops/model/final"
    result = {"model_dir": elsewhere, "model_path": relative_to_project(config, str(project / ".llmops/model/final"))}
    assert result["model_path"] == ".llmops/model/final"
    assert recorded_model(config, result) == str(project / ".llmops" / "model" / "final")
    assert relative_to_project(config, str(tmp_path / "outside")) is None
    assert recorded_model(config, {"model_dir": elsewhere}) == elsewhere  # older records still read
    assert recorded_model(config, {"model_uri": "s3://bucket/model", "model_dir": elsewhere}) == "s3://bucket/model"
