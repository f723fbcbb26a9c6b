"""The local forge: what a laptop or a plain CI runner has when no GitHub or GitLab is configured.

Approvals are ``approve`` entries of the audit trail (written by ``llmops-ci approve``, so they
are hash-chained with everything else); teams are ``forge.teams``; deployments are appended to
``.llmops/deployments.jsonl``; checks go to ``.llmops/checks.json`` and the report comment to
``.llmops/report-comment.md``, where a person or a later CI step can read them.
"""

from __future__ import annotations

import json
import subprocess

from llmops_ci.scm.base import utc_now


class LocalForge:
    name = "local"

    def __init__(self, config):
        self.config = config
        self.folder = config.root / ".llmops"
        self.deployments = self.folder / "deployments.jsonl"

    def head_sha(self) -> str:
        """HEAD, or `working-tree` outside git: the local checks file is keyed by it."""
        try:
            out = subprocess.run(["git", "rev-parse", "HEAD"], cwd=self.config.root, capture_output=True, text=True,
                                 timeout=10)
        except (OSError, subprocess.TimeoutExpired):
            return "working-tree"
        return out.stdout.strip() if out.returncode == 0 and out.stdout.strip() else "working-tree"

    def change_number(self) -> int | None:
        return None

    def run_url(self) -> str | None:
        return None

    def publish_checks(self, sha: str, checks) -> list[dict]:
        path = self.folder / "checks.json"
        known = json.loads(path.read_text()) if path.is_file() else {}
        known[sha] = {c.name: {"conclusion": c.conclusion, "title": c.title, "annotations": len(c.annotations)}
                      for c in checks}
        self.folder.mkdir(parents=True, exist_ok=True)
        path.write_text(json.dumps(known, indent=2, sort_keys=True) + "\n")
        return [{"name": c.name, "kind": "file", "conclusion": c.conclusion, "action": "written"} for c in checks]

    def upsert_report(self, number, body: str, marker: str) -> dict:
        path = self.folder / "report-comment.md"
        self.folder.mkdir(parents=True, exist_ok=True)
        path.write_text(body)
        return {"number": number, "path": str(path), "action": "written"}

    def approvals(self, chain: list[dict], environment: str, version: int | None = None,
                  commit: str | None = None) -> list[dict]:
        """Every approval on record (the caller decides which count): actor, environment, version, commit, time."""
        return [{"actor": e["actor"], "environment": e.get("environment"), "version": e.get("version"),
                 "commit": e.get("commit"), "time": e["time"], "comment": e.get("detail")}
                for e in chain if e.get("action") == "approve"]

    def team_members(self, team: str) -> list[str]:
        return list(((self.config.data.get("forge") or {}).get("teams") or {}).get(team, []))

    def start_deployment(self, environment: str, version: int, commit: str | None, action: str) -> dict:
        return {"environment": environment, "version": version, "commit": commit, "action": action}

    def finish_deployment(self, started: dict, state: str) -> dict:
        record = {**started, "state": state, "time": utc_now()}
        self.deployments.parent.mkdir(parents=True, exist_ok=True)
        with open(self.deployments, "a", encoding="utf-8") as fh:
            fh.write(json.dumps(record, sort_keys=True) + "\n")
        return record
