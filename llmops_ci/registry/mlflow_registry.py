"""The one module that talks to MLflow.

Versions carry provenance as tags (``llmops.*``); aliases name environments.
A model's content hash decides identity: registering the same bytes twice
returns the version that already holds them.
"""

from __future__ import annotations

import contextlib
import os
import time
import urllib.error
import urllib.request
from dataclasses import dataclass, field
from importlib import metadata
from pathlib import Path

from llmops_ci.config import CANDIDATE_ALIAS, Config
from llmops_ci.errors import BadInput, ExternalFailure
from llmops_ci.provenance import sha256_tree
from llmops_ci.secrets import redact

TAG = "llmops."
CONTENT_TAG = "llmops.content_sha256"
TASKS = {"causal-lm": "text-generation", "seq2seq": "text2text-generation", "classifier": "text-classification"}
# Bounded retries for the reachability probe; MLflow's own client retries are
# capped the same way (its default backoff can wait minutes on a dead URI).
PROBE_ATTEMPTS = 3
PROBE_DELAY_S = 1.0


def _quiet_mlflow_env() -> None:
    os.environ.setdefault("MLFLOW_DISABLE_TELEMETRY", "true")
    os.environ.setdefault("DO_NOT_TRACK", "true")
    os.environ.setdefault("MLFLOW_HTTP_REQUEST_MAX_RETRIES", "2")
    os.environ.setdefault("MLFLOW_HTTP_REQUEST_BACKOFF_FACTOR", "1")
    os.environ.setdefault("MLFLOW_HTTP_REQUEST_TIMEOUT", "60")
    os.environ.setdefault("GIT_PYTHON_REFRESH", "quiet")


def use_tracking_uri(uri: str) -> None:
    """Point MLflow's fluent API at ``uri`` without leaking it into os.environ.

    mlflow.set_tracking_uri also exports MLFLOW_TRACKING_URI, which every child
    process (and every later open_registry in this process) would then take
    over the URI in llmops.yaml.
    """
    import mlflow

    saved = {k: os.environ.get(k) for k in ("MLFLOW_TRACKING_URI", "MLFLOW_REGISTRY_URI")}
    mlflow.set_tracking_uri(uri)
    mlflow.set_registry_uri(uri)
    for key, value in saved.items():
        if value is None:
            os.environ.pop(key, None)
        else:
            os.environ[key] = value


@dataclass
class ModelVersionInfo:
    name: str
    version: int
    aliases: list[str]
    tags: dict[str, str]
    source: str
    run_id: str | None
    created_at: int
    model_id: str | None = None
    created: bool = field(default=False)  # True when this call created it

    @property
    def uri(self) -> str:
        return f"models:/{self.name}/{self.version}"

    @property
    def provenance(self) -> dict[str, str]:
        return {k[len(TAG):]: v for k, v in sorted(self.tags.items()) if k.startswith(TAG)}

    def as_dict(self) -> dict:
        return {"name": self.name, "version": self.version, "aliases": sorted(self.aliases), "uri": self.uri,
                "source": self.source, "run_id": self.run_id, "model_id": self.model_id,
                "created_at": self.created_at, "provenance": self.provenance}


def _version_info(mv, created: bool = False) -> ModelVersionInfo:
    return ModelVersionInfo(
        name=mv.name, version=int(mv.version), aliases=list(getattr(mv, "aliases", []) or []),
        tags=dict(mv.tags or {}), source=mv.source, run_id=mv.run_id,
        created_at=int(mv.creation_timestamp or 0), model_id=getattr(mv, "model_id", None), created=created,
    )


class Registry:
    """A registered model in one MLflow tracking server / store."""

    def __init__(self, tracking_uri: str, model_name: str, experiment: str, artifact_root: Path | None = None):
        _quiet_mlflow_env()
        self.tracking_uri = tracking_uri
        self.model_name = model_name
        self.experiment = experiment
        self.artifact_root = artifact_root
        self._probe()
        import mlflow
        from mlflow import MlflowClient

        self._mlflow = mlflow
        use_tracking_uri(tracking_uri)
        self.client = MlflowClient(tracking_uri=tracking_uri, registry_uri=tracking_uri)

    # -- reachability ------------------------------------------------------------
    def _probe(self) -> None:
        """Fail fast, with the URI named, when the store cannot be reached."""
        uri = self.tracking_uri
        shown = redact(uri)
        if uri.startswith(("http://", "https://")):
            last = ""
            for attempt in range(PROBE_ATTEMPTS):
                try:
                    with urllib.request.urlopen(uri.rstrip("/") + "/health", timeout=5) as resp:
                        if resp.status == 200:
                            return
                        last = f"HTTP {resp.status}"
                except urllib.error.HTTPError as exc:
                    last = f"HTTP {exc.code}"
                except (urllib.error.URLError, OSError) as exc:
                    last = str(getattr(exc, "reason", exc))
                if attempt + 1 < PROBE_ATTEMPTS:
                    time.sleep(PROBE_DELAY_S * (attempt + 1))
            raise ExternalFailure(
                f"MLflow tracking server {shown} cannot be reached after {PROBE_ATTEMPTS} attempts ({last}): "
                "start it, or fix registry.tracking_uri / MLFLOW_TRACKING_URI")
        if uri.startswith("sqlite:///"):
            db = Path(uri[len("sqlite:///"):])
            try:
                db.parent.mkdir(parents=True, exist_ok=True)
            except OSError as exc:
                raise ExternalFailure(f"MLflow store {shown}: cannot create {db.parent} ({exc.strerror})") from None

    def _call(self, what: str, fn, *args, **kwargs):
        """Run an MLflow call; connection-level failures become ExternalFailure."""
        from mlflow.exceptions import MlflowException

        try:
            return fn(*args, **kwargs)
        except MlflowException:
            raise
        except (ConnectionError, OSError, TimeoutError) as exc:
            raise ExternalFailure(f"MLflow at {redact(self.tracking_uri)} failed during {what}: {redact(str(exc))}") from None
        except Exception as exc:  # SQLAlchemy OperationalError and friends, without importing them here
            if type(exc).__name__ in ("OperationalError", "InterfaceError", "DatabaseError"):
                raise ExternalFailure(f"MLflow store {redact(self.tracking_uri)} failed during {what}: {redact(str(exc).splitlines()[0])}") from None
            raise

    # -- reading -------------------------------------------------------------
    def _ensure_registered_model(self) -> None:
        from mlflow.exceptions import MlflowException

        try:
            self._call("get registered model", self.client.get_registered_model, self.model_name)
        except MlflowException as exc:
            if exc.error_code != "RESOURCE_DOES_NOT_EXIST":
                raise
            try:
                self._call("create registered model", self.client.create_registered_model, self.model_name,
                           description="Registered by llmops-ci")
            except MlflowException as exc2:  # another pipeline created it first
                if exc2.error_code != "RESOURCE_ALREADY_EXISTS":
                    raise

    def versions(self) -> list[ModelVersionInfo]:
        from mlflow.exceptions import MlflowException

        try:
            found = self._call("search model versions", self.client.search_model_versions,
                               f"name = '{self.model_name}'", max_results=10000)
        except MlflowException as exc:
            if exc.error_code == "RESOURCE_DOES_NOT_EXIST":
                return []
            raise
        # search results omit aliases on some stores: read them from the model.
        aliases = self.aliases()
        out = []
        for mv in found:
            info = _version_info(mv)
            info.aliases = sorted(a for a, v in aliases.items() if v == info.version)
            out.append(info)
        return sorted(out, key=lambda v: v.version)

    def aliases(self) -> dict[str, int]:
        from mlflow.exceptions import MlflowException

        try:
            rm = self._call("get registered model", self.client.get_registered_model, self.model_name)
        except MlflowException as exc:
            if exc.error_code == "RESOURCE_DOES_NOT_EXIST":
                return {}
            raise
        return {alias: int(version) for alias, version in (rm.aliases or {}).items()}

    def version(self, number: int) -> ModelVersionInfo:
        from mlflow.exceptions import MlflowException

        try:
            mv = self._call("get model version", self.client.get_model_version, self.model_name, str(number))
        except MlflowException as exc:
            if exc.error_code == "RESOURCE_DOES_NOT_EXIST":
                raise BadInput(f"{self.model_name}: no version {number} in the registry at {redact(self.tracking_uri)}") from None
            raise
        info = _version_info(mv)
        info.aliases = sorted(a for a, v in self.aliases().items() if v == info.version)
        return info

    def by_alias(self, alias: str) -> ModelVersionInfo | None:
        """The version behind ``alias``, or None when no version has it yet."""
        number = self.aliases().get(alias)
        return None if number is None else self.version(number)

    def find_by_content(self, content_sha256: str) -> ModelVersionInfo | None:
        for info in self.versions():
            if info.tags.get(CONTENT_TAG) == content_sha256:
                return info
        return None

    def resolve(self, uri: str) -> ModelVersionInfo:
        """``models:/NAME@ALIAS`` or ``models:/NAME/VERSION`` -> the version it names."""
        if not uri.startswith("models:/"):
            raise BadInput(f"{uri}: not a registry URI (expected models:/NAME@ALIAS or models:/NAME/VERSION)")
        rest = uri[len("models:/"):]
        if "@" in rest:
            name, alias = rest.split("@", 1)
            reg = self if name == self.model_name else Registry(self.tracking_uri, name, self.experiment, self.artifact_root)
            info = reg.by_alias(alias)
            if info is None:
                raise BadInput(f"{uri}: no version of {name} has alias `{alias}` yet")
            return info
        name, _, number = rest.partition("/")
        if not number.isdigit():
            raise BadInput(f"{uri}: expected models:/NAME@ALIAS or models:/NAME/VERSION")
        reg = self if name == self.model_name else Registry(self.tracking_uri, name, self.experiment, self.artifact_root)
        return reg.version(int(number))

    def download(self, info: ModelVersionInfo, dest: Path) -> Path:
        """Download a version's model and return the Hugging Face directory inside it."""
        local = Path(self._call("download artifacts", self._mlflow.artifacts.download_artifacts,
                                artifact_uri=info.uri, dst_path=str(dest)))
        for candidate in (local / "model", local):
            if (candidate / "config.json").is_file():
                return candidate
        raise ExternalFailure(f"{info.uri}: downloaded artifacts hold no config.json under {local}")

    def stage_artifact(self, run_id: str, stage: str, artifact_path: str) -> str:
        """``runs:/…/artifact_path`` of the MLflow run that ``stage`` of llmops run ``run_id`` logged."""
        exp = self._call("get experiment", self._mlflow.get_experiment_by_name, self.experiment)
        runs = [] if exp is None else self._call(
            "search runs", self.client.search_runs, [exp.experiment_id],
            filter_string=f"tags.`llmops.run_id` = '{run_id}' and tags.`llmops.stage` = '{stage}'",
            order_by=["attributes.start_time DESC"], max_results=1)
        if not runs:
            raise ExternalFailure(f"no MLflow run for stage {stage} of run {run_id} in experiment {self.experiment} "
                                  f"at {redact(self.tracking_uri)}: did the job log to this tracking server?")
        return f"runs:/{runs[0].info.run_id}/{artifact_path}"

    def fetch_model(self, uri: str, dest: Path) -> Path:
        """A local copy of a model at ``runs:/…``, ``s3://…`` and other artifact URIs."""
        local = Path(self._call("download artifacts", self._mlflow.artifacts.download_artifacts,
                                artifact_uri=uri, dst_path=str(dest)))
        if not (local / "config.json").is_file():
            raise BadInput(f"{uri}: not a model directory: no config.json in what was downloaded")
        return local

    # -- evaluations -------------------------------------------------------------
    def log_evaluation(self, content_sha256: str, suite: str, eval_hash: str, results: dict, metrics: dict[str, float],
                       tags: dict[str, str], report_dir: Path | None = None) -> str:
        """Store one suite's results for a model (by content hash) so later runs can reuse them."""
        import json
        import tempfile

        mlflow = self._mlflow
        all_tags = {"llmops.stage": "evaluate", "llmops.suite": suite, "llmops.eval_hash": eval_hash,
                    CONTENT_TAG: content_sha256, **tags}
        with self._call("start run", mlflow.start_run, experiment_id=self._experiment_id(),
                        run_name=f"evaluate-{suite}-{content_sha256[:8]}", tags=all_tags) as run:
            clean = {k: v for k, v in metrics.items() if v is not None}
            for i in range(0, len(clean), 900):  # MLflow caps a batch at 1000 metrics
                mlflow.log_metrics(dict(list(clean.items())[i:i + 900]))
            with tempfile.TemporaryDirectory() as tmp:
                path = Path(tmp) / f"{suite}.json"
                path.write_text(json.dumps(results, sort_keys=True))
                mlflow.log_artifact(str(path), artifact_path="evaluation")
            if report_dir is not None and report_dir.is_dir():
                mlflow.log_artifacts(str(report_dir), artifact_path="report")
            return run.info.run_id

    def find_evaluation(self, content_sha256: str, suite: str, eval_hash: str, with_verdict: bool = False) -> dict | None:
        """Newest stored results of ``suite`` for the model with this content, under this evaluation hash.

        ``with_verdict`` skips baseline-only results (stored when the model was someone's baseline),
        which carry no gate verdict: promotion needs the verdict of the model's own evaluation.
        """
        import json
        import tempfile

        exp = self._call("get experiment", self._mlflow.get_experiment_by_name, self.experiment)
        if exp is None:
            return None
        query = (f"tags.`llmops.stage` = 'evaluate' and tags.`llmops.suite` = '{suite}' and "
                 f"tags.`{CONTENT_TAG}` = '{content_sha256}' and tags.`llmops.eval_hash` = '{eval_hash}'")
        if with_verdict:
            query += " and tags.`llmops.verdict` != ''"
        runs = self._call("search runs", self.client.search_runs, [exp.experiment_id], filter_string=query,
                          order_by=["attributes.start_time DESC"], max_results=1)
        if not runs:
            return None
        with tempfile.TemporaryDirectory() as tmp:
            local = self._call("download artifacts", self._mlflow.artifacts.download_artifacts,
                               run_id=runs[0].info.run_id, artifact_path=f"evaluation/{suite}.json", dst_path=tmp)
            data = json.loads(Path(local).read_text())
        data["mlflow_run_id"] = runs[0].info.run_id
        return data

    def log_model_card(self, version: ModelVersionInfo, files: dict[str, str]) -> str:
        """Store a version's model card (file name -> text) in its own run, under ``model_card/``."""
        import tempfile

        if not version.run_id:
            raise ExternalFailure(f"{version.uri}: the version has no source run to hold its model card")
        with tempfile.TemporaryDirectory() as tmp:
            for name, text in files.items():
                (Path(tmp) / name).write_text(text)
            self._call("log model card", self.client.log_artifacts, version.run_id, tmp, "model_card")
        self._call("tag model version", self.client.set_model_version_tag, self.model_name, str(version.version),
                   "llmops.model_card", f"runs:/{version.run_id}/model_card")
        return f"runs:/{version.run_id}/model_card"

    def evaluations_of_run(self, run_id: str) -> dict[str, dict]:
        """suite -> stored results of every suite evaluated in llmops run ``run_id`` (a remote evaluate)."""
        import json
        import tempfile

        exp = self._call("get experiment", self._mlflow.get_experiment_by_name, self.experiment)
        if exp is None:
            return {}
        runs = self._call("search runs", self.client.search_runs, [exp.experiment_id],
                          filter_string=f"tags.`llmops.stage` = 'evaluate' and tags.`llmops.run_id` = '{run_id}' "
                                        "and tags.`llmops.verdict` != ''",
                          order_by=["attributes.start_time DESC"], max_results=200)
        out: dict[str, dict] = {}
        for run in runs:
            suite = run.data.tags.get("llmops.suite")
            if suite in out:
                continue
            with tempfile.TemporaryDirectory() as tmp:
                local = self._call("download artifacts", self._mlflow.artifacts.download_artifacts,
                                   run_id=run.info.run_id, artifact_path=f"evaluation/{suite}.json", dst_path=tmp)
                out[suite] = {**json.loads(Path(local).read_text()), "mlflow_run_id": run.info.run_id}
        return out

    def evaluation_hashes(self, content_sha256: str, suite: str) -> list[str]:
        """Evaluation hashes under which ``suite`` results exist for this model (newest first)."""
        exp = self._call("get experiment", self._mlflow.get_experiment_by_name, self.experiment)
        if exp is None:
            return []
        runs = self._call("search runs", self.client.search_runs, [exp.experiment_id],
                          filter_string=(f"tags.`llmops.stage` = 'evaluate' and tags.`llmops.suite` = '{suite}' and "
                                         f"tags.`{CONTENT_TAG}` = '{content_sha256}'"),
                          order_by=["attributes.start_time DESC"], max_results=20)
        return [r.data.tags.get("llmops.eval_hash") for r in runs]

    # -- writing -------------------------------------------------------------
    def log_onnx(self, onnx_path: Path, version: ModelVersionInfo | None, fallback_run_id: str) -> str:
        """Store the ONNX export beside the transformers model: in the registered version's own
        run (and tag the version with where it is), or in ``fallback_run_id`` for an unregistered model."""
        run_id = version.run_id if version is not None and version.run_id else fallback_run_id
        self._call("log ONNX model", self.client.log_artifact, run_id, str(onnx_path), "onnx")
        uri = f"runs:/{run_id}/onnx/{Path(onnx_path).name}"
        if version is not None:
            self._call("tag model version", self.client.set_model_version_tag, self.model_name, str(version.version),
                       "llmops.onnx_artifact", uri)
        return uri

    def set_alias(self, alias: str, version: int) -> None:
        self._call("set alias", self.client.set_registered_model_alias, self.model_name, alias, str(version))

    def _experiment_id(self) -> str:
        exp = self._call("get experiment", self._mlflow.get_experiment_by_name, self.experiment)
        if exp is not None:
            return exp.experiment_id
        location = None
        if self.artifact_root is not None:
            location = self.artifact_root.resolve().as_uri()
        from mlflow.exceptions import MlflowException

        try:
            return self._call("create experiment", self.client.create_experiment, self.experiment, artifact_location=location)
        except MlflowException as exc:
            if exc.error_code == "RESOURCE_ALREADY_EXISTS":
                return self._mlflow.get_experiment_by_name(self.experiment).experiment_id
            raise

    def register(self, model_dir: Path, kind: str, provenance: dict[str, str], progress=print) -> ModelVersionInfo:
        """Log ``model_dir`` (transformers flavor) and register it, or return the version holding it."""
        content = sha256_tree(model_dir)
        self._ensure_registered_model()
        existing = self.find_by_content(content)
        if existing is not None:
            progress(f"{self.model_name}: these exact model files are already version {existing.version}; not registering again")
            self.set_alias(CANDIDATE_ALIAS, existing.version)
            return self.version(existing.version)

        tags = {f"{TAG}{k}": str(v) for k, v in provenance.items() if v is not None}
        tags[CONTENT_TAG] = content
        mlflow = self._mlflow
        experiment_id = self._experiment_id()
        progress(f"{self.model_name}: logging {model_dir} to MLflow at {redact(self.tracking_uri)}")
        with self._call("start run", mlflow.start_run, experiment_id=experiment_id,
                        run_name=f"register-{provenance.get('run_id', '')[:8]}"):
            mlflow.set_tags(tags)
            mlflow.log_params({k: v for k, v in tags.items() if len(v) <= 500})
            import mlflow.transformers as mlt

            with _hub_offline():
                info = self._call("log model", mlt.log_model, transformers_model=str(model_dir), name="model",
                                  task=TASKS[kind], pip_requirements=_requirements(), tags=tags)
            mv = self._call("register model", mlflow.register_model, info.model_uri, self.model_name,
                            tags=tags, await_registration_for=300)
        version = int(mv.version)
        self._wait_ready(version)
        self.set_alias(CANDIDATE_ALIAS, version)
        progress(f"{self.model_name}: registered version {version}, alias `{CANDIDATE_ALIAS}` now points at it")
        result = self.version(version)
        result.created = True
        return result

    def _wait_ready(self, version: int, timeout_s: float = 300) -> None:
        deadline = time.monotonic() + timeout_s
        while True:
            mv = self._call("get model version", self.client.get_model_version, self.model_name, str(version))
            status = getattr(mv, "status", "READY")
            if status == "READY":
                return
            if status == "FAILED_REGISTRATION" or time.monotonic() > deadline:
                raise ExternalFailure(f"{self.model_name} version {version}: registration ended {status}")
            time.sleep(0.5)


@contextlib.contextmanager
def _hub_offline():
    """Keep MLflow from asking the Hugging Face hub for a card and licence of a local folder.

    The model is a directory on disk; asking the hub by its path only costs
    retries (and fails with no network), so the hub is off while logging it.
    """
    old_env = os.environ.get("HF_HUB_OFFLINE")
    os.environ["HF_HUB_OFFLINE"] = "1"
    try:
        from huggingface_hub import constants
    except ImportError:  # pragma: no cover - transformers depends on it
        constants = None
    old_const = getattr(constants, "HF_HUB_OFFLINE", None)
    if constants is not None:
        constants.HF_HUB_OFFLINE = True
    try:
        yield
    finally:
        if constants is not None:
            constants.HF_HUB_OFFLINE = old_const
        if old_env is None:
            os.environ.pop("HF_HUB_OFFLINE", None)
        else:
            os.environ["HF_HUB_OFFLINE"] = old_env


def _requirements() -> list[str]:
    """Pinned serving requirements, read from metadata (loading torch just for this is waste)."""
    reqs = []
    for name in ("transformers", "torch", "accelerate"):
        try:
            reqs.append(f"{name}=={metadata.version(name).split('+')[0]}")
        except metadata.PackageNotFoundError:
            continue
    return reqs


def open_registry(config: Config, tracking_uri: str | None = None) -> Registry:
    """The registry named by ``--tracking-uri``, ``MLFLOW_TRACKING_URI`` or llmops.yaml, in that order."""
    uri = tracking_uri or os.environ.get("MLFLOW_TRACKING_URI") or config.tracking_uri
    artifact_root = config.root / ".llmops" / "artifacts" if uri.startswith("sqlite:") else None
    return Registry(uri, config.model_name, config.experiment, artifact_root)
