"""MLflow runs for long stages (training): parameters, metrics as they come, a final status.

Part of the registry layer because it is the only layer allowed to import
mlflow; the training loop only sees ``TrackedRun``.
"""

from __future__ import annotations

from llmops_ci.registry.mlflow_registry import _quiet_mlflow_env, use_tracking_uri
from llmops_ci.secrets import redact, redact_data


class TrackedRun:
    """One MLflow run; failures surface to the caller, secrets never go in."""

    def __init__(self, tracking_uri: str, experiment: str, run_name: str, tags: dict[str, str] | None = None,
                 artifact_root=None):
        _quiet_mlflow_env()
        import mlflow

        self._mlflow = mlflow
        use_tracking_uri(tracking_uri)
        exp = mlflow.get_experiment_by_name(experiment)
        if exp is None:
            location = artifact_root.resolve().as_uri() if artifact_root is not None else None
            exp_id = mlflow.create_experiment(experiment, artifact_location=location)
        else:
            exp_id = exp.experiment_id
        self.run = mlflow.start_run(experiment_id=exp_id, run_name=run_name, tags=redact_data(tags or {}))
        self.run_id = self.run.info.run_id

    def log_params(self, params: dict) -> None:
        flat = {k: redact(str(v))[:500] for k, v in params.items() if v is not None}
        self._mlflow.log_params(flat)

    def log_metrics(self, metrics: dict, step: int) -> None:
        numeric = {k: float(v) for k, v in metrics.items() if isinstance(v, (int, float))}
        if numeric:
            self._mlflow.log_metrics(numeric, step=step)

    def log_artifacts(self, path, artifact_path: str) -> str:
        self._mlflow.log_artifacts(str(path), artifact_path=artifact_path)
        return f"runs:/{self.run_id}/{artifact_path}"

    def finish(self, status: str = "FINISHED") -> None:
        self._mlflow.end_run(status=status)


def tracking_uri_for_job(tracking_uri: str) -> str | None:
    """The URI a remote job can log to: a server, not this machine's sqlite file."""
    return tracking_uri if tracking_uri.startswith(("http://", "https://", "databricks")) else None

