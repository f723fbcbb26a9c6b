"""The GitLab forge, on python-gitlab: commit statuses per domain, the merge request's report
note, deployments, and approvals of protected-environment deployments. The only module that
knows GitLab. (The JUnit report reaches the merge request through the template's
``artifacts:reports:junit``, not through the API.)

Where things come from (all overridable in ``forge:``): the token from ``$GITLAB_TOKEN``
(``forge.token_env``; a job token cannot post statuses or notes), the server from
``$CI_SERVER_URL`` (``forge.api_url``, for self-managed GitLab), the project from
``$CI_PROJECT_PATH``, the merge request from ``$CI_MERGE_REQUEST_IID``.
"""

from __future__ import annotations

import os

import gitlab
import requests
from gitlab import exceptions as gl_errors

from llmops_ci.errors import BadInput, ExternalFailure
from llmops_ci.scm.base import Check, forge_token, say_on_stderr, utc_now
from llmops_ci.scm.http import RetryPolicy, mount_retries
from llmops_ci.secrets import redact

NOTE_LIMIT = 1_000_000
SCOPE = {
    "status": "api scope (Developer role) to set commit statuses",
    "comment": "api scope (Reporter role) to write merge request notes",
    "deployment": "api scope (Developer role) to create deployments",
    "approvals": "read_api scope to read deployments",
    "team": "read_api scope to read group members",
}
STATE = {"success": "success", "failure": "failed"}


class GitLabForge:
    name = "gitlab"

    def __init__(self, config, env: dict | None = None, say=None):
        env = os.environ if env is None else env
        forge = config.data.get("forge") or {}
        self.config, self.env = config, env
        self.say = say or say_on_stderr
        self.token_env, token = forge_token(forge, "gitlab", env)
        if not token:
            raise BadInput(f"{config.display}: forge.token_env: ${self.token_env} is empty; the GitLab forge needs a "
                           "token with the api scope there (a masked CI/CD variable; CI_JOB_TOKEN cannot post "
                           "statuses or notes)")
        self.project_path = forge.get("repository") or env.get("CI_PROJECT_PATH") or env.get("CI_PROJECT_ID") or ""
        if not self.project_path:
            raise BadInput(f"{config.display}: forge.repository: no GitLab project (set it to group/project, or run "
                           "in GitLab CI where $CI_PROJECT_PATH says it)")
        url = forge.get("api_url") or env.get("CI_SERVER_URL") or "https://gitlab.com"
        self.url = url.rstrip("/").removesuffix("/api/v4")
        session = mount_retries(requests.Session(), RetryPolicy.from_config(forge), self.say)
        self.gl = gitlab.Gitlab(self.url, private_token=token, session=session, retry_transient_errors=False)
        self.project = self.gl.projects.get(self.project_path, lazy=True)

    def _call(self, what: str, need: str, fn, *args, **kwargs):
        try:
            return fn(*args, **kwargs)
        except gl_errors.GitlabError as exc:
            where = f"GitLab ({self.url}, {self.project_path})"
            code = exc.response_code
            message = redact(str(exc.error_message))[:200]
            if code == 401:
                raise ExternalFailure(f"{where}: {what}: HTTP 401 ({message}): the token in ${self.token_env} "
                                      "is not valid for this server") from None
            if code in (403, 404):
                raise ExternalFailure(f"{where}: {what}: HTTP {code} ({message}): the token needs {SCOPE[need]}") from None
            raise ExternalFailure(f"{where}: {what}: HTTP {code} ({message})") from None
        except requests.RequestException as exc:
            raise ExternalFailure(f"GitLab ({self.url}): {what}: cannot reach the server ({type(exc).__name__}); "
                                  "check forge.api_url and the network") from None

    # -- context -------------------------------------------------------------------------------
    def head_sha(self) -> str | None:
        return self.env.get("CI_COMMIT_SHA")

    def change_number(self) -> int | None:
        iid = self.env.get("CI_MERGE_REQUEST_IID")
        return int(iid) if iid else None

    def run_url(self) -> str | None:
        return self.env.get("CI_PIPELINE_URL")

    # -- checks ---------------------------------------------------------------------------------
    def publish_checks(self, sha: str, checks: list[Check]) -> list[dict]:
        commit = self.project.commits.get(sha, lazy=True)
        out = []
        for check in checks:
            data = {"state": STATE[check.state], "name": check.name, "description": check.title[:255],
                    "target_url": check.details_url or self.run_url()}
            if self.env.get("CI_PIPELINE_ID"):  # attach to this pipeline rather than a new external one
                data["pipeline_id"] = int(self.env["CI_PIPELINE_ID"])
            if self.env.get("CI_COMMIT_REF_NAME"):
                data["ref"] = self.env["CI_COMMIT_REF_NAME"]
            self._call(f"commit status {check.name} on {sha[:12]}", "status", commit.statuses.create,
                       {k: v for k, v in data.items() if v is not None})
            out.append({"name": check.name, "kind": "status", "state": data["state"], "action": "created"})
        return out

    # -- the report note -------------------------------------------------------------------------
    def upsert_report(self, number: int, body: str, marker: str) -> dict:
        if len(body) > NOTE_LIMIT:
            body = body[:NOTE_LIMIT - 200].rsplit("\n", 1)[0] + "\n\n… cut to fit GitLab's note size\n"
        mr = self.project.mergerequests.get(number, lazy=True)
        notes = self._call(f"list notes of merge request !{number}", "comment", mr.notes.list, iterator=True)
        for note in self._call(f"list notes of merge request !{number}", "comment", list, notes):
            if marker in (note.body or ""):
                note.body = body
                self._call(f"update the report note on merge request !{number}", "comment", note.save)
                return {"number": number, "comment_id": note.id, "action": "updated"}
        made = self._call(f"create the report note on merge request !{number}", "comment", mr.notes.create, {"body": body})
        return {"number": number, "comment_id": made.id, "action": "created"}

    # -- deployments ----------------------------------------------------------------------------
    def start_deployment(self, environment: str, version: int, commit: str | None, action: str) -> dict:
        """A `running` deployment, made before the alias moves (a token that may not deploy stops
        the promotion while nothing has changed)."""
        sha = commit or self.env.get("CI_COMMIT_SHA")
        if not sha:
            raise ExternalFailure(f"GitLab: deployment of version {version} to {environment}: no commit to deploy "
                                  "(the version has no llmops.git_commit and $CI_COMMIT_SHA is unset)")
        started = {"environment": environment, "version": version, "commit": sha, "action": action}
        if self.env.get("CI_ENVIRONMENT_NAME") == environment and self.env.get("CI_JOB_ID"):
            # A job with `environment:` is a deployment GitLab records itself: a second one
            # through the API would show every promotion twice.
            return {**started, "deployment": f"recorded by GitLab for job {self.env['CI_JOB_ID']}"}
        ref = self.env.get("CI_COMMIT_REF_NAME") or self.env.get("CI_DEFAULT_BRANCH") or "main"
        deployment = self._call(f"deployment of version {version} to {environment}", "deployment",
                                self.project.deployments.create,
                                {"environment": environment, "sha": sha, "ref": ref, "tag": False, "status": "running"})
        return {**started, "deployment_id": deployment.id, "_deployment": deployment}

    def finish_deployment(self, started: dict, state: str) -> dict:
        deployment = started.get("_deployment")
        if deployment is not None:
            deployment.status = STATE.get(state, state)
            self._call(f"status of the deployment of version {started['version']} to {started['environment']}",
                       "deployment", deployment.save)
        return {k: v for k, v in started.items() if not k.startswith("_")} | {"state": state, "time": utc_now()}

    # -- approvals -------------------------------------------------------------------------------
    def approvals(self, chain: list[dict], environment: str, version: int, commit: str | None) -> list[dict]:
        """Approvals of the protected environment's deployments of ``commit`` (GitLab blocks a
        deployment job until its approvers approve it). Prefers this job's own deployment."""
        deployments = self._call(f"list deployments to {environment}", "approvals", self.project.deployments.list,
                                 environment=environment, order_by="id", sort="desc", get_all=True)
        job = self.env.get("CI_JOB_ID")
        mine = [d for d in deployments if job and str((getattr(d, "deployable", None) or {}).get("id")) == job]
        ours = mine or [d for d in deployments if commit and getattr(d, "sha", None) == commit]
        out = []
        for d in ours[:1] if mine else ours:
            for a in getattr(d, "approvals", None) or []:
                if a.get("status") != "approved":
                    continue
                out.append({"actor": (a.get("user") or {}).get("username"), "environment": environment,
                            "version": version, "commit": d.sha, "time": a.get("created_at") or utc_now(),
                            "comment": a.get("comment") or None, "source": f"approval of deployment {d.id}"})
        return out

    def team_members(self, team: str) -> list[str]:
        group = self.gl.groups.get(team, lazy=True)
        members = self._call(f"list members of group {team}", "team", group.members_all.list, get_all=True)
        return [m.username for m in members]
