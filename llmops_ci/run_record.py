"""The run record: the small JSON file each stage writes and the next one reads.

It is what lets ``finetune``, ``evaluate``, ``register`` and ``promote`` run as
separate CI jobs or on separate machines: a job uploads ``.llmops/run.json`` as
an artifact and the next job downloads it. Default path ``.llmops/run.json``
beside llmops.yaml; ``--run-record PATH`` or ``LLMOPS_RUN_RECORD`` override it.
"""

from __future__ import annotations

import contextlib
import json
import os
import uuid
from datetime import datetime, timezone
from pathlib import Path

from llmops_ci.errors import BadInput, LlmopsError
from llmops_ci.provenance import dataset_entries, git_info, package_versions
from llmops_ci.schemacheck import load_schema
from llmops_ci.secrets import redact, redact_data

ENV_VAR = "LLMOPS_RUN_RECORD"
SCHEMA = "run_record.schema.json"


def now() -> str:
    return datetime.now(timezone.utc).isoformat(timespec="seconds")


def relative_to_project(config, path: str) -> str | None:
    """``path`` relative to llmops.yaml's folder when it lies inside it (else None). The run
    record travels between CI jobs and machines whose checkouts sit in different folders."""
    try:
        return Path(path).resolve().relative_to(config.root.resolve()).as_posix()
    except ValueError:
        return None


def recorded_model(config, result: dict) -> str:
    """The model a finetune or register result points at, found in this checkout: its
    project-relative ``model_path`` first, then the absolute ``model_dir``, then ``model_uri``."""
    rel = result.get("model_path")
    if rel and (config.root / rel).is_dir():
        return str(config.root / rel)
    return result.get("model_uri") or result["model_dir"]


def record_path(config, override: str | None = None) -> Path:
    chosen = override or os.environ.get(ENV_VAR)
    if chosen:
        return Path(chosen)
    return config.root / ".llmops" / "run.json"


class RunRecord:
    def __init__(self, path: Path, data: dict):
        self.path = path
        self.data = data

    # -- creating and reading -------------------------------------------------
    @classmethod
    def new(cls, config, path: Path) -> "RunRecord":
        # A remote stage (SkyPilot job) continues the run that submitted it.
        inherited = os.environ.get("LLMOPS_RUN_ID", "")
        run_id = inherited if len(inherited) == 32 and all(c in "0123456789abcdef" for c in inherited) else uuid.uuid4().hex
        data = {
            "schema_version": 1,
            "run_id": run_id,
            "created_at": now(),
            "updated_at": now(),
            "config": {"path": config.display, "sha256": config.sha256},
            "git": git_info(config.root),
            "datasets": dataset_entries(config),
            "packages": package_versions(),
            "stages": {},
        }
        return cls(path, data)

    @classmethod
    def load(cls, path: Path) -> "RunRecord":
        """Read and check the record; a missing or corrupt one is a clear BadInput."""
        if not path.exists():
            raise BadInput(f"{path}: run record not found (run the earlier stage first, or pass --run-record PATH / set {ENV_VAR})")
        try:
            data = json.loads(path.read_text(encoding="utf-8"))
        except (json.JSONDecodeError, UnicodeDecodeError) as exc:
            raise BadInput(f"{path}: run record is corrupt (not JSON: {exc}); delete it to start a new run") from None
        from jsonschema import Draft202012Validator

        errors = sorted(Draft202012Validator(load_schema(SCHEMA)).iter_errors(data), key=lambda e: list(e.absolute_path))
        if errors:
            where = ".".join(str(p) for p in errors[0].absolute_path) or "(top level)"
            raise BadInput(f"{path}: run record is corrupt at {where}: {errors[0].message}; delete it to start a new run")
        return cls(path, data)

    @classmethod
    def load_or_new(cls, config, path: Path) -> "RunRecord":
        return cls.load(path) if path.exists() else cls.new(config, path)

    def save(self) -> None:
        self.data["updated_at"] = now()
        self.path.parent.mkdir(parents=True, exist_ok=True)
        tmp = self.path.with_suffix(self.path.suffix + ".tmp")
        tmp.write_text(json.dumps(redact_data(self.data), indent=2, sort_keys=True) + "\n", encoding="utf-8")
        os.replace(tmp, self.path)  # atomic: a reader never sees half a record

    # -- stages ----------------------------------------------------------------
    @property
    def run_id(self) -> str:
        return self.data["run_id"]

    def stage(self, name: str) -> dict | None:
        return self.data["stages"].get(name)

    def succeeded(self, name: str) -> dict:
        """The result of stage ``name``, which must have succeeded."""
        st = self.stage(name)
        if not st or st["status"] != "succeeded":
            state = st["status"] if st else "not run"
            raise BadInput(f"{self.path}: stage `{name}` has {state} in this run (run `llmops-ci {name}` first)")
        return st

    @contextlib.contextmanager
    def running(self, name: str):
        """Mark stage ``name`` running; on exit mark it succeeded, or failed with the error."""
        stage = {"status": "running", "started_at": now(), "finished_at": None, "result": {}, "artifacts": {}}
        self.data["stages"][name] = stage
        self.save()
        try:
            yield stage
        except LlmopsError as exc:
            stage.update(status="refused" if exc.exit_code == 1 else "failed", exit_code=exc.exit_code,
                         error=redact("; ".join(exc.lines)), finished_at=now())
            self.save()
            raise
        except BaseException as exc:
            stage.update(status="failed", exit_code=None, error=redact(f"{type(exc).__name__}: {exc}"), finished_at=now())
            self.save()
            raise
        else:
            stage.update(status="succeeded", exit_code=0, error=None, finished_at=now())
            self.save()
