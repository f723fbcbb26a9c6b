"""``llmops-ci finetune``: build the task, run it here or as a SkyPilot managed job, record the result."""

from __future__ import annotations

import json
from pathlib import Path

from llmops_ci.config import load_config
from llmops_ci.errors import BadInput, ExternalFailure
from llmops_ci.run_record import RunRecord, now, record_path, relative_to_project


def _skypilot():
    try:
        from llmops_ci.infra import skypilot
        import sky  # noqa: F401  (only to give a clear error when the extra is missing)
    except ImportError:
        raise BadInput("backend skypilot needs SkyPilot: pip install 'llmops-ci[skypilot]'") from None
    return skypilot


def check_data(config) -> tuple[int, int]:
    """Read every local training/eval record now, so bad data fails before any compute is spent."""
    from llmops_ci.config import is_remote
    from llmops_ci.training.data import read_examples

    counts = []
    for split in ("train", "eval"):
        n = 0
        for item in config.datasets().get(split, []):
            if not is_remote(item):
                n += len(read_examples(config.resolve(item), item, config.data["data"]["format"],
                                       config.data["model"]["kind"]))
        counts.append(n)
    return counts[0], counts[1]


def run_finetune(config_path: str | None, backend: str | None = None, dry_run: bool = False, detach: bool = False,
                 run_record: str | None = None, progress=print) -> dict:
    from llmops_ci.infra.task import build_task, task_yaml

    config = load_config(config_path)
    backend = backend or config.data["training"]["backend"]
    check_data(config)
    rec_path = record_path(config, run_record)
    record = RunRecord.new(config, rec_path)
    task = build_task(config, "finetune", record.run_id, backend)
    if backend == "skypilot" or dry_run:
        sky = _skypilot() if backend == "skypilot" else None
        if sky is not None:
            sky.build(task, config.display)
    if dry_run:
        return {"dry_run": True, "backend": backend, "task_yaml": task_yaml(task)}

    if backend == "local":
        from llmops_ci.infra.local import run_task

        with record.running("finetune") as stage:
            progress(f"finetune: running the task locally in {task['workdir']} (output {task['envs']['LLMOPS_OUTPUT_DIR']})")
            run_task(task)
            result = json.loads((Path(task["envs"]["LLMOPS_OUTPUT_DIR"]) / "result.json").read_text())
            stage["result"] = {"backend": "local", **{k: v for k, v in result.items() if k != "loss_history"}}
            rel = relative_to_project(config, result["model_dir"])
            if rel:
                stage["result"]["model_path"] = rel
            stage["artifacts"] = {"model": result["model_dir"]}
        return stage["result"]

    sky = _skypilot()
    stage = {"status": "running", "started_at": now(), "finished_at": None, "result": {"backend": "skypilot"},
             "artifacts": {}}
    record.data["stages"]["finetune"] = stage
    try:
        launched = sky.launch(task, config.display, detach=detach, log=progress)
    except Exception as exc:
        from llmops_ci.errors import LlmopsError
        from llmops_ci.secrets import redact

        stage.update(status="failed", finished_at=now(),
                     exit_code=exc.exit_code if isinstance(exc, LlmopsError) else None,
                     error=redact("; ".join(exc.lines) if isinstance(exc, LlmopsError) else str(exc)))
        record.save()
        raise
    stage["result"].update(launched, task_name=task["name"], output_dir=task["envs"]["LLMOPS_OUTPUT_DIR"])
    if detach:
        record.save()
        progress(f"detached: follow with `llmops-ci finetune --wait {launched['job_id']}`")
        return stage["result"]
    return _finish_remote(config, record, stage, launched["status"])


def _finish_remote(config, record: RunRecord, stage: dict, status: str) -> dict:
    stage["result"]["status"] = status
    stage["finished_at"] = now()
    if status != "SUCCEEDED":
        stage.update(status="failed", exit_code=3, error=f"managed job {stage['result'].get('job_id')} ended {status}")
        record.save()
        raise ExternalFailure(f"SkyPilot managed job {stage['result'].get('job_id')} ended {status} "
                              f"(see `sky jobs logs {stage['result'].get('job_id')}`)")
    output = config.data["training"]["skypilot"].get("output", "mlflow")
    if output == "mlflow":
        from llmops_ci.registry import open_registry

        uri = open_registry(config).stage_artifact(record.run_id, "finetune", "model")
    else:
        uri = f"{output.rstrip('/')}/{config.project}/finetune/final"
    stage["result"]["model_uri"] = uri
    stage["artifacts"] = {"model": uri}
    stage.update(status="succeeded", exit_code=0, error=None)
    record.save()
    return stage["result"]


def run_finetune_job(config_path: str | None, job_id: int, wait: bool, run_record: str | None = None,
                     progress=print) -> dict:
    """``--status JOB`` / ``--wait JOB``: pick up a detached managed job."""
    config = load_config(config_path)
    sky = _skypilot()
    if not wait:
        return {"job_id": job_id, "status": sky.status(job_id)}
    record = RunRecord.load(record_path(config, run_record))
    stage = record.stage("finetune")
    if not stage or stage.get("result", {}).get("job_id") != job_id:
        raise BadInput(f"{record.path}: this run record did not submit job {job_id} (pass the record that did, "
                       "with --run-record)")
    return _finish_remote(config, record, stage, sky.wait(job_id, log=progress))
