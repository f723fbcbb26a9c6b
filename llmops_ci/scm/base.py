"""What every forge is handed: checks per domain, the report comment, deployments, approvals.

The forge adapters (``local``, ``github``, ``gitlab``) take these plain objects and never see
the evaluation's internals; the evaluation never sees a forge.
"""

from __future__ import annotations

import datetime as dt
import os
import sys
from dataclasses import dataclass, field

CHECK_PREFIX = "llmops/"
ANNOTATION_BATCH = 50          # GitHub accepts at most 50 annotations per create/update request
CHECK_SUMMARY_LIMIT = 65535    # GitHub's cap on a check run's output.summary (characters)
STATUS_DESCRIPTION_LIMIT = 140  # GitHub commit status description (GitLab accepts more; same text)


TOKEN_ENV = {"github": "GITHUB_TOKEN", "gitlab": "GITLAB_TOKEN"}


def forge_token(forge: dict, kind: str, env) -> tuple[str, str | None]:
    """(the variable that holds the token, its value): ``forge.token_env``, else the forge's
    usual one; ``GH_TOKEN`` (the gh CLI's) stands in for an unset ``GITHUB_TOKEN``."""
    name = forge.get("token_env") or TOKEN_ENV[kind]
    value = env.get(name) or (env.get("GH_TOKEN") if name == "GITHUB_TOKEN" else None)
    return name, value or None


JOB_SUMMARY_LIMIT = 1024 * 1024  # GitHub's cap on one step's job summary


def append_job_summary(markdown: str) -> None:
    """Add Markdown to the GitHub Actions job summary ($GITHUB_STEP_SUMMARY), cut to its cap."""
    path = os.environ.get("GITHUB_STEP_SUMMARY")
    if not path:
        return
    if len(markdown.encode()) > JOB_SUMMARY_LIMIT:
        markdown = markdown.encode()[:JOB_SUMMARY_LIMIT - 200].decode(errors="ignore") + "\n\n… (cut: see the report artifact)\n"
    with open(path, "a", encoding="utf-8") as fh:
        fh.write(markdown.rstrip() + "\n\n")


def utc_now() -> str:
    return dt.datetime.now(dt.timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")


def say_on_stderr(line: str) -> None:
    """Where forges say things (retries, fallbacks) by default: stdout is the command's result."""
    print(line, file=sys.stderr, flush=True)


class ReadOnlyToken(Exception):
    """The forge gave this run a token that may write nothing (a pull request from a fork)."""


def marker(project: str) -> str:
    """The hidden line that finds our comment again, so it is edited, not posted anew."""
    return f"<!-- llmops-ci:report:{project} -->"


@dataclass
class Check:
    """One required check: ``llmops/<domain>`` with the domain's verdict."""

    name: str
    verdict: str            # PASS, FAIL or INCONCLUSIVE
    passed: bool            # after the inconclusive policy: does the check let the merge through?
    title: str
    summary: str            # Markdown, already cut to CHECK_SUMMARY_LIMIT
    annotations: list[dict] = field(default_factory=list)  # GitHub check-run annotation objects
    details_url: str | None = None

    @property
    def conclusion(self) -> str:
        """GitHub check-run conclusion: an INCONCLUSIVE that the policy lets pass is `neutral`
        (which satisfies a required check), one it fails is `failure`."""
        if self.verdict == "PASS":
            return "success"
        if self.verdict == "INCONCLUSIVE" and self.passed:
            return "neutral"
        return "failure"

    @property
    def state(self) -> str:
        """Commit status state (GitHub names; the GitLab adapter maps failure → failed)."""
        return "success" if self.passed else "failure"

    @property
    def description(self) -> str:
        text = self.title
        return text if len(text) <= STATUS_DESCRIPTION_LIMIT else text[:STATUS_DESCRIPTION_LIMIT - 1] + "…"


def batches(items: list, size: int = ANNOTATION_BATCH) -> list[list]:
    return [items[i:i + size] for i in range(0, len(items), size)] or [[]]
