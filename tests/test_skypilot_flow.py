"""Submit -> stream -> wait -> record, tested at the module boundary with doubles.

No cloud is reachable here, so a managed job cannot really run. These tests
replace functions of ``llmops_ci.infra.skypilot`` (or of SkyPilot's SDK where
the behaviour under test is our signal handling) and check what the finetune
stage does with their answers: the run record, the exit codes, the cancel on
SIGTERM. They do not cover SkyPilot's side (scheduling, recovery, log format);
test_skypilot.py checks the task against the real SDK.
"""

from __future__ import annotations

import json
import os
import signal

import pytest
import yaml

from llmops_ci.cli import main
from llmops_ci.infra import skypilot as sky_module


@pytest.fixture
def bucket_project(project, monkeypatch):
    cfg = project / "llmops.yaml"
    data = yaml.safe_load(cfg.read_text())
    data["training"]["backend"] = "skypilot"
    data["training"]["skypilot"]["output"] = "s3://team-models/llm"
    cfg.write_text(yaml.safe_dump(data, sort_keys=False))
    monkeypatch.chdir(project)
    return project


def record(project):
    return json.loads((project / ".llmops" / "run.json").read_text())


def test_launch_wait_success_records_job_and_model_uri(bucket_project, monkeypatch, capsys):
    calls = []

    def fake_launch(task, display, detach, log):
        calls.append((task["name"], detach, task["envs"]["LLMOPS_RUN_ID"]))
        log("streamed job log line")
        return {"job_id": 41, "status": "SUCCEEDED"}

    monkeypatch.setattr(sky_module, "launch", fake_launch)
    assert main(["finetune", "--format", "json"]) == 0
    out, err = capsys.readouterr()
    rec = record(bucket_project)
    stage = rec["stages"]["finetune"]
    assert calls == [("clinic-assistant-finetune", False, rec["run_id"])]
    assert stage["status"] == "succeeded" and stage["result"]["job_id"] == 41
    assert stage["result"]["model_uri"] == "s3://team-models/llm/clinic-assistant/finetune/final"
    assert json.loads(out)["model_uri"] == stage["result"]["model_uri"]
    assert "streamed job log line" in err


def test_failed_job_is_exit_3_and_recorded(bucket_project, monkeypatch, capsys):
    monkeypatch.setattr(sky_module, "launch", lambda task, display, detach, log: {"job_id": 5, "status": "FAILED"})
    assert main(["finetune"]) == 3
    assert "SkyPilot managed job 5 ended FAILED" in capsys.readouterr().err
    stage = record(bucket_project)["stages"]["finetune"]
    assert stage["status"] == "failed" and stage["exit_code"] == 3


def test_detach_then_wait_picks_the_job_up(bucket_project, monkeypatch, capsys):
    monkeypatch.setattr(sky_module, "launch", lambda task, display, detach, log: {"job_id": 9, "status": "SUBMITTED"})
    assert main(["finetune", "--detach"]) == 0
    assert record(bucket_project)["stages"]["finetune"]["status"] == "running"
    assert "--wait 9" in capsys.readouterr().err

    monkeypatch.setattr(sky_module, "status", lambda job_id: "RUNNING")
    assert main(["finetune", "--status", "9", "--format", "json"]) == 0
    assert json.loads(capsys.readouterr().out) == {"job_id": 9, "status": "RUNNING"}

    monkeypatch.setattr(sky_module, "wait", lambda job_id, log: "SUCCEEDED")
    assert main(["finetune", "--wait", "9"]) == 0
    stage = record(bucket_project)["stages"]["finetune"]
    assert stage["status"] == "succeeded" and stage["result"]["status"] == "SUCCEEDED"

    assert main(["finetune", "--wait", "10"]) == 2
    assert "did not submit job 10" in capsys.readouterr().err


def test_sigterm_while_waiting_cancels_the_managed_job(monkeypatch):
    """Doubles SkyPilot's SDK calls (tail_logs, cancel): checks that our SIGTERM handler cancels the job."""
    import sky

    cancelled = []

    def tail_logs(job_id, follow, output_stream):
        os.kill(os.getpid(), signal.SIGTERM)  # the CI runner cancels the job mid-stream

    monkeypatch.setattr(sky.jobs, "tail_logs", tail_logs)
    monkeypatch.setattr(sky_module, "cancel", lambda job_id: cancelled.append(job_id))
    before = signal.getsignal(signal.SIGTERM)
    with pytest.raises(SystemExit) as info:
        sky_module.wait(77, log=lambda m: None)
    assert info.value.code == 128 + signal.SIGTERM
    assert cancelled == [77]
    assert signal.getsignal(signal.SIGTERM) == before  # handler restored
