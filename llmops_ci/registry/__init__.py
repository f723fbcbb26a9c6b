"""Versioning and registry layer: MLflow Model Registry with provenance.

Only ``llmops_ci.registry.mlflow_registry`` imports mlflow; the rest of the
package calls the functions re-exported here.
"""

from llmops_ci.registry.mlflow_registry import (  # noqa: F401
    CANDIDATE_ALIAS,
    ModelVersionInfo,
    Registry,
    open_registry,
)
