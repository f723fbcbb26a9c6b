"""The finetune task as real SkyPilot objects: validated and round-tripped by SkyPilot itself,
its errors mapped to llmops.yaml keys, and the real SDK's no-cloud path turned into exit 3."""

from __future__ import annotations

import json

import pytest
import yaml

from conftest import run_cli


def set_skypilot(project, **values):
    cfg = project / "llmops.yaml"
    data = yaml.safe_load(cfg.read_text())
    data["training"]["skypilot"].update(values)
    cfg.write_text(yaml.safe_dump(data, sort_keys=False))


@pytest.fixture(scope="module", autouse=True)
def stop_sky_api_server():
    yield
    import sky

    sky.api_stop()  # the SDK starts a local API server on first use


def dry_run(project):
    proc = run_cli("finetune", "--config", "llmops.yaml", "--backend", "skypilot", "--dry-run", cwd=project)
    return proc


def test_dry_run_prints_a_task_skypilot_accepts(project):
    import sky

    proc = dry_run(project)
    assert proc.returncode == 0, proc.stderr
    task_cfg = yaml.safe_load(proc.stdout)
    assert task_cfg["resources"]["accelerators"] == "L4:1"
    assert task_cfg["resources"]["use_spot"] is True
    assert task_cfg["resources"]["job_recovery"] == {"strategy": "EAGER_NEXT_REGION", "max_restarts_on_errors": 2}
    assert "python -m llmops_ci.training" in task_cfg["run"]
    assert task_cfg["envs"]["LLMOPS_CONFIG"] == "llmops.yaml"

    task = sky.Task.from_yaml_config(dict(task_cfg))
    (res,) = task.resources
    assert res.accelerators == {"L4": 1} and res.use_spot is True
    # Round trip: SkyPilot's own serialisation reads back to the same task.
    again = sky.Task.from_yaml_config(task.to_yaml_config())
    assert again.to_yaml_config()["resources"] == task.to_yaml_config()["resources"]
    assert again.run == task.run and again.envs == task.envs and again.setup == task.setup


def test_bucket_output_and_secrets_become_mounts_and_secret_names(project, monkeypatch):
    set_skypilot(project, output="s3://team-models/llm", secrets=["HF_TOKEN"])
    monkeypatch.setenv("HF_TOKEN", "hf_abcdefghijklmnop")
    proc = run_cli("finetune", "--config", "llmops.yaml", "--backend", "skypilot", "--dry-run", cwd=project,
                   env={"HF_TOKEN": "hf_abcdefghijklmnop"})
    assert proc.returncode == 0, proc.stderr
    task_cfg = yaml.safe_load(proc.stdout)
    assert task_cfg["file_mounts"] == {"/llmops-output": {"source": "s3://team-models/llm", "mode": "MOUNT_CACHED"}}
    assert task_cfg["envs"]["LLMOPS_OUTPUT_DIR"].startswith("/llmops-output/")
    assert task_cfg["secrets"] == {"HF_TOKEN": None}
    assert "hf_abcdefghijklmnop" not in proc.stdout + proc.stderr


def test_resources_typo_gets_skypilots_did_you_mean_with_our_key(project):
    set_skypilot(project, resources={"accelerator": "L4:1"})
    proc = dry_run(project)
    assert proc.returncode == 2
    line = proc.stderr.strip().splitlines()[-1]
    assert line.startswith("llmops.yaml: training.skypilot.resources.accelerator: SkyPilot refused the task")
    assert "did you mean 'accelerators'" in line


def test_wrong_type_in_resources_names_the_field(project):
    set_skypilot(project, resources={"use_spot": "sometimes"})
    proc = dry_run(project)
    assert proc.returncode == 2
    assert "training.skypilot.resources.use_spot: SkyPilot refused the task" in proc.stderr


def test_unknown_accelerator(project):
    set_skypilot(project, resources={"accelerators": "H1OO:8"})
    proc = dry_run(project)
    assert proc.returncode == 2
    assert "training.skypilot.resources.accelerators: unknown accelerator 'H1OO'; did you mean `H100`?" in proc.stderr
    assert not (project / ".llmops").exists()


@pytest.mark.slow
def test_real_launch_without_a_cloud_exits_3_and_records_the_failure(project):
    # CPU-only resources so SkyPilot gets as far as choosing a cloud (no accelerator catalog needed).
    set_skypilot(project, resources={"cpus": "2+"})
    proc = run_cli("finetune", "--config", "llmops.yaml", "--backend", "skypilot", cwd=project, timeout=300)
    assert proc.returncode == 3, proc.stderr[-2000:]
    last = proc.stderr.strip().splitlines()[-1]
    assert last.startswith("no cloud is enabled for SkyPilot: run `sky check`"), last
    stage = json.loads((project / ".llmops" / "run.json").read_text())["stages"]["finetune"]
    assert stage["status"] == "failed" and stage["exit_code"] == 3 and "sky check" in stage["error"]
