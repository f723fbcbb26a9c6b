"""SCM integration: one small interface, so no other module knows which forge it runs on.

``open_forge(config)`` returns the forge of ``forge.type`` (``auto`` detects it from the CI
environment). Implemented here: ``local`` — approvals are audit-trail entries written by
``llmops-ci approve``, deployments are lines in ``.llmops/deployments.jsonl``.
"""

from __future__ import annotations

import os


def detect(config) -> str:
    kind = (config.data.get("forge") or {}).get("type", "auto")
    if kind != "auto":
        return kind
    if os.environ.get("GITHUB_ACTIONS") == "true":
        return "github"
    if os.environ.get("GITLAB_CI") == "true":
        return "gitlab"
    return "local"


def open_forge(config):
    from llmops_ci.errors import BadInput
    from llmops_ci.scm.local import LocalForge

    kind = detect(config)
    explicit = (config.data.get("forge") or {}).get("type", "auto") != "auto"
    if kind == "local" or not explicit:
        # auto-detected GitHub/GitLab falls back to the local forge until their adapters exist
        return LocalForge(config)
    raise BadInput(f"{config.display}: forge.type: {kind!r} is not available in this build of llmops-ci "
                   "(only `local`); remove forge.type or set it to local")
