"""``llmops-ci register``: put the fine-tuned model in the registry with its provenance."""

from __future__ import annotations

import json
from pathlib import Path

from llmops_ci.config import load_config
from llmops_ci.errors import BadInput
from llmops_ci.provenance import actor
from llmops_ci.run_record import RunRecord, record_path


def check_model_dir(path: Path, flag: str = "--model") -> Path:
    """A Hugging Face model directory, or a BadInput naming what is missing."""
    if not path.exists():
        raise BadInput(f"{path}: model directory not found (pass {flag} DIR with a folder saved by save_pretrained)")
    if not path.is_dir():
        raise BadInput(f"{path}: not a directory (expected a model folder saved by save_pretrained)")
    if not (path / "config.json").is_file():
        raise BadInput(f"{path}: not a model directory: no config.json (expected a folder saved by save_pretrained)")
    return path


def provenance_tags(config, record: RunRecord) -> dict[str, str]:
    data = record.data
    tags = {
        "project": config.project,
        "run_id": record.run_id,
        "git_commit": data["git"].get("commit"),
        "git_dirty": None if data["git"].get("dirty") is None else str(data["git"]["dirty"]).lower(),
        "git_branch": data["git"].get("branch"),
        "config_sha256": data["config"]["sha256"],
        "base_model": config.data["model"]["base"],
        "model_kind": config.data["model"]["kind"],
        "author": actor(),
        "packages": json.dumps(data["packages"], sort_keys=True),
    }
    for split, entries in data["datasets"].items():
        tags[f"dataset.{split}.sha256"] = ",".join(e["sha256"] or e["uri"] for e in entries)
        tags[f"dataset.{split}.uri"] = ",".join(e["uri"] for e in entries)
    finetune = record.stage("finetune")
    if finetune and finetune.get("status") == "succeeded":
        for key in ("job_id", "backend", "train_loss"):
            if key in finetune.get("result", {}):
                tags[f"finetune.{key}"] = str(finetune["result"][key])
    return tags


def run_register(config_path: str | None, model: str | None, run_record: str | None,
                 tracking_uri: str | None = None, progress=print) -> dict:
    config = load_config(config_path)
    rec_path = record_path(config, run_record)
    record = RunRecord.load_or_new(config, rec_path) if model else RunRecord.load(rec_path)
    from llmops_ci.config import is_remote

    source = model
    if not source:
        finetune = record.succeeded("finetune")["result"]
        from llmops_ci.run_record import recorded_model

        source = recorded_model(config, finetune)
    remote = is_remote(source) or source.startswith("runs:/")
    if not remote:
        model_dir = check_model_dir(Path(source))

    from llmops_ci.registry import open_registry

    registry = open_registry(config, tracking_uri)
    if remote:  # a cloud job's output: fetch it, then register the local copy
        model_dir = registry.fetch_model(source, config.root / ".llmops" / "fetched" / record.run_id)
    with record.running("register") as stage:
        info = registry.register(model_dir, config.data["model"]["kind"], provenance_tags(config, record), progress)
        stage["result"] = {**info.as_dict(), "created": info.created, "model_dir": str(model_dir.resolve()),
                           "tracking_uri": registry.tracking_uri}
        stage["artifacts"] = {"model": info.uri}
    return stage["result"]


def run_registry_show(config_path: str | None, name: str | None, tracking_uri: str | None = None) -> list[dict]:
    config = load_config(config_path)
    from llmops_ci.registry import open_registry

    registry = open_registry(config, tracking_uri)
    if name and name != registry.model_name:
        from llmops_ci.registry import Registry

        registry = Registry(registry.tracking_uri, name, registry.experiment, registry.artifact_root)
    return [v.as_dict() for v in registry.versions()]
