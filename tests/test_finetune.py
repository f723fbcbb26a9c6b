"""`llmops-ci finetune` on this machine: the shipped example trains, loss falls, a killed run resumes,
and `register` picks up what it produced with provenance."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time

import pytest

from conftest import run_cli


def set_training(project, **values):
    import yaml

    cfg = project / "llmops.yaml"
    data = yaml.safe_load(cfg.read_text())
    data["training"].update(values)
    cfg.write_text(yaml.safe_dump(data, sort_keys=False))


def git_commit(project) -> str:
    for args in (["init", "-q"], ["add", "."], ["commit", "-qm", "example"]):
        subprocess.run(["git", "-c", "user.email=ci@example.com", "-c", "user.name=ci", *args], cwd=project,
                       check=True, capture_output=True)
    return subprocess.run(["git", "rev-parse", "HEAD"], cwd=project, capture_output=True, text=True).stdout.strip()


@pytest.mark.slow
def test_finetune_example_loss_falls_and_register_links_provenance(project):
    commit = git_commit(project)
    proc = run_cli("finetune", "--config", "llmops.yaml", "--format", "json", cwd=project)
    assert proc.returncode == 0, proc.stderr[-3000:]
    result = json.loads(proc.stdout)
    assert result["backend"] == "local" and result["global_step"] > 0
    assert result["last_logged_loss"] < 0.5 * result["first_logged_loss"], result
    assert "step " in proc.stderr and "%)" in proc.stderr  # progress reached the log

    record = json.loads((project / ".llmops" / "run.json").read_text())
    assert record["stages"]["finetune"]["status"] == "succeeded"
    assert record["git"] == {"commit": commit, "dirty": False, "branch": record["git"]["branch"]}

    # The trained model really answers the training task (greedy decoding).
    from transformers import AutoModelForCausalLM, AutoTokenizer

    tok = AutoTokenizer.from_pretrained(result["model_dir"])
    model = AutoModelForCausalLM.from_pretrained(result["model_dir"])
    enc = tok("My brother has crushing chest pressure and sweating. What should we do?", return_tensors="pt")
    out = model.generate(**enc, max_new_tokens=12, do_sample=False, pad_token_id=tok.pad_token_id)
    assert "Seek emergency care" in tok.decode(out[0][enc["input_ids"].shape[1]:], skip_special_tokens=True)

    reg = run_cli("register", "--config", "llmops.yaml", "--format", "json", cwd=project)
    assert reg.returncode == 0, reg.stderr[-2000:]
    prov = json.loads(reg.stdout)["provenance"]
    assert prov["git_commit"] == commit and prov["git_dirty"] == "false"
    assert prov["config_sha256"] == record["config"]["sha256"]
    assert prov["dataset.train.sha256"] == record["datasets"]["train"][0]["sha256"]
    assert prov["run_id"] == record["run_id"]

    # Training params and the loss curve are in MLflow.
    # An explicit client: mlflow.set_tracking_uri would export MLFLOW_TRACKING_URI to every later test.
    from mlflow import MlflowClient

    client = MlflowClient(tracking_uri=f"sqlite:///{project / '.llmops' / 'mlflow.db'}")
    experiment = client.get_experiment_by_name("llmops/clinic-assistant")
    runs = client.search_runs([experiment.experiment_id], filter_string="tags.`llmops.stage` = 'finetune'")
    assert len(runs) == 1
    history = client.get_metric_history(runs[0].info.run_id, "loss")
    assert len(history) >= 5 and history[-1].value < history[0].value
    assert runs[0].data.params["recipe"] == "full"


@pytest.mark.slow
def test_killed_run_resumes_from_last_checkpoint(project):
    set_training(project, max_steps=400, save_steps=25, epochs=100)
    checkpoints = project / ".llmops" / "model" / "checkpoints"
    proc = subprocess.Popen([sys.executable, "-m", "llmops_ci", "finetune", "--config", "llmops.yaml"], cwd=project,
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True)
    deadline = time.monotonic() + 300
    try:
        while time.monotonic() < deadline:
            done = [c for c in checkpoints.glob("checkpoint-*") if (c / "trainer_state.json").is_file()] \
                if checkpoints.exists() else []
            if done:
                break
            assert proc.poll() is None, "training ended before a checkpoint was written"
            time.sleep(0.05)
        else:
            pytest.fail("no checkpoint within 300 s")
    finally:
        os.killpg(proc.pid, signal.SIGKILL)  # the CI job's whole process group dies
        proc.wait()
    assert not (project / ".llmops" / "model" / "final").exists()  # it really died mid-way

    again = run_cli("finetune", "--config", "llmops.yaml", "--format", "json", cwd=project)
    assert again.returncode == 0, again.stderr[-3000:]
    result = json.loads(again.stdout)
    assert result["resumed_from_step"] >= 25 and result["resumed_from_step"] % 25 == 0
    assert result["resumed_from_step"] < 400 and result["global_step"] == 400
    assert "resuming from" in again.stderr


@pytest.mark.slow
def test_changed_data_does_not_resume_stale_checkpoints(project):
    set_training(project, max_steps=30, save_steps=10)
    assert run_cli("finetune", "--config", "llmops.yaml", cwd=project).returncode == 0
    with open(project / "data" / "train.jsonl", "a") as fh:
        fh.write(json.dumps({"prompt": "New question?", "completion": " New answer."}) + "\n")
    proc = run_cli("finetune", "--config", "llmops.yaml", "--format", "json", cwd=project)
    assert proc.returncode == 0, proc.stderr[-2000:]
    assert json.loads(proc.stdout)["resumed_from_step"] == 0
    assert "starting from scratch" in proc.stderr


@pytest.mark.slow
def test_lora_recipe_saves_a_plain_model(project):
    set_training(project, recipe="lora", max_steps=10, lora={"r": 4, "alpha": 8, "target_modules": ["c_attn"]})
    proc = run_cli("finetune", "--config", "llmops.yaml", "--format", "json", cwd=project)
    assert proc.returncode == 0, proc.stderr[-3000:]
    model_dir = json.loads(proc.stdout)["model_dir"]
    from transformers import AutoModelForCausalLM

    model = AutoModelForCausalLM.from_pretrained(model_dir)  # merged: loads without peft
    assert not any("lora" in name for name, _ in model.named_parameters())
