"""One task definition per heavy stage, in SkyPilot's task YAML schema.

Adding a stage is one small function that returns its `run:` command and the
files it needs; everything else (setup, envs, resources, recovery, output) is
shared. The same dict is executed locally or submitted to SkyPilot.
"""

from __future__ import annotations

import shlex
from pathlib import Path

from llmops_ci import __version__
from llmops_ci.config import Config, is_remote

OUTPUT_MOUNT = "/llmops-output"
DATA_MOUNT = "/llmops-data"
# Job-side local output when the model goes to MLflow rather than a bucket.
JOB_LOCAL_OUTPUT = "~/llmops-output"


def install_spec(config: Config) -> str:
    return config.data["training"]["skypilot"].get("install") or f"llmops-ci[train,eval]=={__version__}"


def _workdir(config: Config) -> Path:
    """The folder synced to the job: the repository root holding llmops.yaml (or its folder)."""
    for parent in (config.root, *config.root.parents):
        if (parent / ".git").exists():
            return parent
    return config.root


def _finetune_run(config: Config, data_args: str) -> str:
    return f'python -m llmops_ci.training --config "$LLMOPS_CONFIG" --output-dir "$LLMOPS_OUTPUT_DIR"{data_args}'


def _evaluate_run(config: Config, data_args: str) -> str:
    return ('python -m llmops_ci evaluate --config "$LLMOPS_CONFIG" --backend local '
            '--report-dir "$LLMOPS_OUTPUT_DIR/report" $LLMOPS_EVALUATE_ARGS')


STAGES = {"finetune": _finetune_run, "evaluate": _evaluate_run}


def build_task(config: Config, stage: str, run_id: str, backend: str, extra_envs: dict | None = None) -> dict:
    """The task for ``stage`` as a dict in SkyPilot's YAML schema."""
    sky_cfg = config.data["training"]["skypilot"]
    workdir = _workdir(config)
    config_rel = config.path.relative_to(workdir).as_posix()
    output = sky_cfg.get("output", "mlflow")

    envs = {str(k): str(v) for k, v in (sky_cfg.get("envs") or {}).items()}
    envs.update({
        "LLMOPS_CONFIG": config_rel,
        "LLMOPS_STAGE": stage,
        "LLMOPS_RUN_ID": run_id,
        "LLMOPS_CI_VERSION": __version__,
        "TOKENIZERS_PARALLELISM": "false",
        "MLFLOW_DISABLE_TELEMETRY": "true",
    })
    file_mounts: dict = {}
    data_args = ""
    if backend == "local":
        envs["LLMOPS_OUTPUT_DIR"] = str(config.resolve(config.data["training"]["output_dir"]).resolve())
    elif is_remote(output) and output != "mlflow":
        file_mounts[OUTPUT_MOUNT] = {"source": output, "mode": "MOUNT_CACHED"}
        envs["LLMOPS_OUTPUT_DIR"] = f"{OUTPUT_MOUNT}/{config.project}/{stage}"
    else:
        envs["LLMOPS_OUTPUT_DIR"] = f"{JOB_LOCAL_OUTPUT}/{stage}"
        envs["LLMOPS_UPLOAD_TO_MLFLOW"] = "1"
    if backend == "skypilot":
        # Remote datasets are mounted; local ones travel with the workdir.
        for split, items in config.datasets().items():
            for i, item in enumerate(items):
                if is_remote(item):
                    target = f"{DATA_MOUNT}/{split}-{i}{Path(item).suffix or '.jsonl'}"
                    file_mounts[target] = item
                    data_args += f" --{split} {shlex.quote(target)}"
                elif any(is_remote(x) for x in items):
                    data_args += f" --{split} {shlex.quote(item)}"
        from llmops_ci.registry.tracking import tracking_uri_for_job

        server = tracking_uri_for_job(config.tracking_uri)
        if server:
            envs["MLFLOW_TRACKING_URI"] = server
    envs.update({k: str(v) for k, v in (extra_envs or {}).items()})

    # Installs only when missing, so the local rehearsal reuses this environment.
    setup = (f"python -c 'import llmops_ci.training, transformers' 2>/dev/null || "
             f"python -m pip install {shlex.quote(install_spec(config))}")
    task: dict = {
        "name": sky_cfg.get("name") or f"{config.project}-{stage}",
        "workdir": str(workdir),
        "envs": envs,
        "setup": setup,
        "run": STAGES[stage](config, data_args),
    }
    if sky_cfg.get("secrets"):
        task["secrets"] = {name: None for name in sky_cfg["secrets"]}  # values only at launch, never written
    if file_mounts:
        task["file_mounts"] = file_mounts
    resources = dict(sky_cfg.get("resources") or {})
    resources["job_recovery"] = dict(sky_cfg["job_recovery"])
    task["resources"] = resources
    return task


def task_yaml(task: dict) -> str:
    import yaml

    order = ["name", "workdir", "resources", "envs", "secrets", "file_mounts", "setup", "run"]
    ordered = {k: task[k] for k in order if k in task}
    return yaml.safe_dump(ordered, sort_keys=False, default_flow_style=False, width=100)
