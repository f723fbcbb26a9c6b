"""The local forge: what a laptop or a plain CI runner has when no GitHub or GitLab is configured.

Approvals are ``approve`` entries of the audit trail (written by ``llmops-ci approve``, so they
are hash-chained with everything else); deployments are appended to ``.llmops/deployments.jsonl``.
"""

from __future__ import annotations

import json
import time


class LocalForge:
    name = "local"

    def __init__(self, config):
        self.config = config
        self.deployments = config.root / ".llmops" / "deployments.jsonl"

    def approvals(self, chain: list[dict], environment: str) -> list[dict]:
        """Every approval on record (the caller decides which count): actor, environment, version, commit, time."""
        return [{"actor": e["actor"], "environment": e.get("environment"), "version": e.get("version"),
                 "commit": e.get("commit"), "time": e["time"], "comment": e.get("detail")}
                for e in chain if e.get("action") == "approve"]

    def record_deployment(self, environment: str, version: int, commit: str | None, action: str, state: str) -> dict:
        record = {"environment": environment, "version": version, "commit": commit, "action": action, "state": state,
                  "time": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())}
        self.deployments.parent.mkdir(parents=True, exist_ok=True)
        with open(self.deployments, "a", encoding="utf-8") as fh:
            fh.write(json.dumps(record, sort_keys=True) + "\n")
        return record
