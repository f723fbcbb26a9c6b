"""The GitHub forge, on github3.py: check runs, commit statuses, the pull request's report
comment, deployments, approvals and branch protection. The only module that knows GitHub.

github3.py has no environments API (deployment reviews of a workflow run) and its branch
protection helper cannot add one required check without restating the rest; those calls go
through github3.py's own authenticated session, so auth, retries and the base URL stay one.

Where things come from (all overridable in ``forge:``): the token from ``$GITHUB_TOKEN``
(``forge.token_env``), the API from ``$GITHUB_API_URL`` (``forge.api_url``: GitHub Enterprise
Server is ``https://HOST/api/v3``), the repository from ``$GITHUB_REPOSITORY``, the pull request
and its head commit from ``$GITHUB_EVENT_PATH``.
"""

from __future__ import annotations

import datetime as dt
import json
import os

import github3
from github3 import exceptions as gh_errors
from github3.checks import CheckRun
from github3.pulls import ShortPullRequest
from github3.session import AppInstallationTokenAuth

from llmops_ci.errors import BadInput, ExternalFailure
from llmops_ci.scm.base import Check, ReadOnlyToken, batches, forge_token, say_on_stderr, utc_now
from llmops_ci.scm.http import RetryPolicy, is_rate_limited, mount_retries
from llmops_ci.secrets import redact

COMMENT_LIMIT = 65536
# What each call needs, in the words of a workflow's `permissions:` block.
PERMISSION = {
    "repository": "contents: read",
    "check_run": "checks: write",
    "status": "statuses: write",
    "comment": "pull-requests: write",
    "deployment": "deployments: write",
    "approvals": "actions: read",
    "reviews": "pull-requests: read",
    "team": "members: read on the organization (GITHUB_TOKEN never has it: use a GitHub App token or a PAT with read:org)",
    "protect": "administration: write (a repository admin's token; GITHUB_TOKEN cannot change branch protection)",
}


class GitHubForge:
    name = "github"

    def __init__(self, config, env: dict | None = None, say=None):
        env = os.environ if env is None else env
        forge = config.data.get("forge") or {}
        self.config = config
        self.say = say or say_on_stderr
        self.token_env, token = forge_token(forge, "github", env)
        if not token:
            raise BadInput(f"{config.display}: forge.token_env: ${self.token_env} is empty; the GitHub forge needs a "
                           f"token there (in a workflow: `env: {self.token_env}: ${{{{ github.token }}}}`, or the "
                           "action's github-token input)")
        self.repository = forge.get("repository") or env.get("GITHUB_REPOSITORY") or ""
        if self.repository.count("/") != 1:
            raise BadInput(f"{config.display}: forge.repository: expected owner/name, got {self.repository!r} "
                           "(set it, or run inside GitHub Actions where $GITHUB_REPOSITORY says it)")
        self.owner, self.repo_name = self.repository.split("/")
        self.api_url = (forge.get("api_url") or env.get("GITHUB_API_URL") or "https://api.github.com").rstrip("/")
        self.server_url = (env.get("GITHUB_SERVER_URL") or self.api_url.replace("//api.", "//").removesuffix("/api/v3")).rstrip("/")
        self.run_id = env.get("GITHUB_RUN_ID")
        self.env = env
        self.gh = github3.GitHub()
        session = self.gh.session
        session.base_url = self.api_url
        # The GITHUB_TOKEN of a workflow is an app installation token, which check runs need;
        # github3 decides that from the auth type, so say it. A PAT is sent the same way; GitHub
        # then refuses check runs (403) and publish_checks falls back to commit statuses.
        expires = (dt.datetime.now(dt.timezone.utc) + dt.timedelta(hours=24)).isoformat()
        session.auth = AppInstallationTokenAuth(token, expires)
        self.retry = RetryPolicy.from_config(forge)
        mount_retries(session, self.retry, self.say)
        self._repo = None
        self._statuses_only = False

    # -- plumbing ----------------------------------------------------------------------------
    def _fail(self, exc: Exception, what: str, need: str) -> ExternalFailure:
        """One line for a failed call: what was asked, what GitHub said, which permission fixes it."""
        where = f"GitHub ({self.api_url}, {self.repository})"
        if isinstance(exc, gh_errors.TransportError):
            return ExternalFailure(f"{where}: {what}: cannot reach the API ({type(exc.exception).__name__}); "
                                   "check forge.api_url and the network")
        if isinstance(exc, gh_errors.IncompleteResponse):  # a body without fields github3 needs
            return ExternalFailure(f"{where}: {what}: unexpected answer ({redact(str(exc.msg))[:200]})")
        if isinstance(exc, gh_errors.MissingAppInstallationAuthentication):
            failure = ExternalFailure(f"{where}: {what}: needs an app installation token ({PERMISSION[need]})")
            failure.forbidden = True
            return failure
        resp = getattr(exc, "response", None)
        code = getattr(exc, "code", None) or (resp.status_code if resp is not None else None)
        message = redact(str(getattr(exc, "msg", "") or exc))[:200]
        attempts = getattr(resp, "llmops_attempts", None)
        if code == 401:
            return ExternalFailure(f"{where}: {what}: HTTP 401 ({message}): the token in ${self.token_env} "
                                   "is not valid for this server")
        limited = resp is not None and is_rate_limited(resp)
        if code in (403, 404) and not limited:
            hint = " (GitHub answers 404 when the token may not see a resource)" if code == 404 else ""
            failure = ExternalFailure(f"{where}: {what}: HTTP {code} ({message}): the token needs `{PERMISSION[need]}`{hint}")
            failure.forbidden = code == 403  # read by publish_checks: fall back, or say a fork's token is read-only
            return failure
        wait = getattr(resp, "llmops_wait", None)
        if attempts and wait is not None and limited and wait > self.retry.max_wait:
            return ExternalFailure(f"{where}: {what}: HTTP {code} ({message}): rate limited for another {wait:.0f} s, "
                                   f"longer than forge.retry.max_wait_seconds ({self.retry.max_wait:.0f}); rerun the job later")
        if attempts:
            return ExternalFailure(f"{where}: {what}: HTTP {code} ({message}) after {attempts} attempts; "
                                   "GitHub is failing or rate-limiting: rerun the job later")
        return ExternalFailure(f"{where}: {what}: HTTP {code} ({message})")

    def _call(self, what: str, need: str, fn, *args, **kwargs):
        try:
            return fn(*args, **kwargs)
        except (gh_errors.GitHubException, ValueError) as exc:
            if isinstance(exc, ValueError):  # a body github3 could not read
                raise ExternalFailure(f"GitHub ({self.api_url}): {what}: unexpected answer ({exc})") from None
            raise self._fail(exc, what, need) from None

    def _url(self, *parts) -> str:
        return self.gh.session.build_url("repos", self.owner, self.repo_name, *[str(p) for p in parts])

    def _session_json(self, method: str, what: str, need: str, url: str, expect: int, **kwargs):
        """A call github3 has no method for, through its session (same auth, retries, base URL)."""
        core = self.gh
        return self._call(what, need, lambda: core._json(core._request(method, url, **kwargs), expect))

    @property
    def repo(self):
        if self._repo is None:
            self._repo = self._call(f"read repository {self.repository}", "repository",
                                    self.gh.repository, self.owner, self.repo_name)
            if self._repo is None:
                raise ExternalFailure(f"GitHub ({self.api_url}): repository {self.repository} not found")
        return self._repo

    def run_url(self) -> str | None:
        return f"{self.server_url}/{self.repository}/actions/runs/{self.run_id}" if self.run_id else None

    # -- context -------------------------------------------------------------------------------
    def _event(self) -> dict:
        path = self.env.get("GITHUB_EVENT_PATH")
        if not path:
            return {}
        try:
            with open(path, encoding="utf-8") as fh:
                return json.load(fh)
        except (OSError, ValueError):
            return {}

    def head_sha(self) -> str | None:
        """The pull request's head commit (GITHUB_SHA of a pull_request run is a merge commit
        that no one pushed: checks there would not show on the pull request)."""
        pr = self._event().get("pull_request") or {}
        return (pr.get("head") or {}).get("sha") or self.env.get("GITHUB_SHA")

    def from_fork(self) -> bool:
        """A pull request whose head lives in another repository: GitHub gives its runs a
        read-only GITHUB_TOKEN (unless the repository opted to send write tokens to forks)."""
        head = ((self._event().get("pull_request") or {}).get("head") or {}).get("repo") or {}
        return bool(head.get("full_name")) and head["full_name"] != self.repository

    def change_number(self) -> int | None:
        event = self._event()
        number = (event.get("pull_request") or {}).get("number")
        if number is None and (event.get("issue") or {}).get("pull_request"):
            number = event["issue"]["number"]
        ref = self.env.get("GITHUB_REF", "")
        if number is None and ref.startswith("refs/pull/"):
            number = ref.split("/")[2]
        return int(number) if number else None

    # -- checks ---------------------------------------------------------------------------------
    def publish_checks(self, sha: str, checks: list[Check]) -> list[dict]:
        out = []
        for check in checks:
            if not self._statuses_only:
                try:
                    out.append(self._check_run(sha, check))
                    continue
                except ExternalFailure as exc:
                    if not exc.forbidden:
                        raise
                    self._statuses_only = True
                    self.say(f"forge: this token cannot create check runs ({exc.lines[0].split(': ', 2)[-1][:160]}); "
                             "reporting commit statuses with the same names instead")
            try:
                out.append(self._status(sha, check))
            except ExternalFailure as exc:
                if exc.forbidden and self.from_fork():
                    raise ReadOnlyToken(
                        "pull request from a fork: GitHub gave this run a read-only token, so no check, status or "
                        "comment can be published (the job summary and the report artifact have the report); the "
                        "llmops/<domain> checks stay pending until the evaluation runs from a branch of "
                        f"{self.repository}") from None
                raise
        return out

    def _check_run(self, sha: str, check: Check) -> dict:
        what = f"check run {check.name} on {sha[:12]}"
        found = self._session_json("get", f"list {what}", "check_run", self._url("commits", sha, "check-runs"), 200,
                                   params={"check_name": check.name, "filter": "latest"})
        runs = (found or {}).get("check_runs") or []
        first, *rest = batches(check.annotations)
        fields = dict(status="completed", conclusion=check.conclusion, completed_at=utc_now(), details_url=check.details_url)
        if runs:
            run = CheckRun(runs[0], self.gh.session)
            # annotations append on every update: a rerun on the same commit sends them only once
            annotated = (runs[0].get("output") or {}).get("annotations_count", 0) > 0
            if annotated:
                first, rest = [], []
            self._call(f"update {what}", "check_run", run.update,
                       output=self._output(check, first), **fields)
            action = "updated"
        else:
            run = self._call(f"create {what}", "check_run", self.repo.create_check_run, check.name, sha,
                             output=self._output(check, first), started_at=utc_now(), **fields)
            action = "created"
        for batch in rest:
            self._call(f"annotate {what}", "check_run", run.update, output=self._output(check, batch))
        return {"name": check.name, "kind": "check_run", "id": run.id, "conclusion": check.conclusion,
                "annotations": len(check.annotations), "action": action}

    @staticmethod
    def _output(check: Check, annotations: list[dict]) -> dict:
        out = {"title": check.title, "summary": check.summary}
        if annotations:
            out["annotations"] = annotations
        return out

    def _status(self, sha: str, check: Check) -> dict:
        self._call(f"commit status {check.name} on {sha[:12]}", "status", self.repo.create_status, sha, check.state,
                   target_url=check.details_url, description=check.description, context=check.name)
        return {"name": check.name, "kind": "status", "state": check.state, "action": "created"}

    # -- the report comment ---------------------------------------------------------------------
    def upsert_report(self, number: int, body: str, marker: str) -> dict:
        if len(body) > COMMENT_LIMIT:
            body = body[:COMMENT_LIMIT - 200].rsplit("\n", 1)[0] + "\n\n… cut to fit GitHub's comment size\n"
        what = f"the report comment on pull request #{number}"
        issue = self._call(f"read pull request #{number}", "comment", self.gh.issue, self.owner, self.repo_name, number)
        if issue is None:
            raise ExternalFailure(f"GitHub ({self.api_url}): pull request #{number} not found in {self.repository}")
        for comment in self._call(f"list comments of pull request #{number}", "comment", lambda: list(issue.comments())):
            if marker in (comment.body or ""):
                self._call(f"update {what}", "comment", comment.edit, body)
                return {"number": number, "comment_id": comment.id, "action": "updated"}
        made = self._call(f"create {what}", "comment", issue.create_comment, body)
        return {"number": number, "comment_id": made.id, "action": "created"}

    # -- deployments ----------------------------------------------------------------------------
    def start_deployment(self, environment: str, version: int, commit: str | None, action: str) -> dict:
        """A deployment of the version's commit, `in_progress`: made before the alias moves, so a
        token that may not deploy stops the promotion while nothing has changed."""
        ref = commit or self.env.get("GITHUB_SHA")
        if not ref:
            raise ExternalFailure(f"GitHub: deployment of version {version} to {environment}: no commit to deploy "
                                  "(the version has no llmops.git_commit and $GITHUB_SHA is unset)")
        what = f"deployment of version {version} to {environment}"
        payload = {"model": self.config.model_name, "version": version, "action": action}
        deployment = self._call(what, "deployment", self.repo.create_deployment, ref, required_contexts=[],
                                payload=payload, auto_merge=False, environment=environment,
                                description=f"{action} model {self.config.model_name} version {version}")
        if deployment is None:
            raise ExternalFailure(f"GitHub ({self.api_url}): {what}: no deployment came back")
        self._call(f"status of {what}", "deployment", deployment.create_status, "in_progress",
                   target_url=self.run_url(), description=f"{action} version {version}")
        return {"environment": environment, "version": version, "commit": ref, "action": action,
                "deployment_id": deployment.id, "_deployment": deployment}

    def finish_deployment(self, started: dict, state: str) -> dict:
        """``state``: success (the alias moved) or failure (it did not)."""
        what = f"status of the deployment of version {started['version']} to {started['environment']}"
        self._call(what, "deployment", started["_deployment"].create_status, state, target_url=self.run_url(),
                   description=f"{started['action']} version {started['version']}: {state}")
        return {k: v for k, v in started.items() if not k.startswith("_")} | {"state": state, "time": utc_now()}

    # -- approvals -------------------------------------------------------------------------------
    def approvals(self, chain: list[dict], environment: str, version: int, commit: str | None) -> list[dict]:
        """Who approved deploying ``version`` (built from ``commit``) to ``environment``:
        the environment's deployment reviews of this workflow run — the run deploys its own
        commit, $GITHUB_SHA —, and approving reviews of the pull requests that merged ``commit``
        into the default branch, on the head commit they merged (a later review by the same
        person replaces an earlier one). The ladder then checks each against the rule."""
        out = []
        if self.run_id:
            reviews = self._session_json("get", f"read deployment reviews of workflow run {self.run_id}", "approvals",
                                         self._url("actions", "runs", self.run_id, "approvals"), 200) or []
            for r in reviews:
                names = [e.get("name") for e in r.get("environments") or []]
                if r.get("state") == "approved" and environment in names:
                    out.append({"actor": (r.get("user") or {}).get("login"), "environment": environment,
                                "version": version, "commit": self.env.get("GITHUB_SHA"), "time": utc_now(),
                                "comment": r.get("comment") or None,
                                "source": f"deployment review of run {self.run_id}"})
        if commit:
            out += self._pull_request_approvals(environment, version, commit)
        return out

    def _pull_request_approvals(self, environment: str, version: int, commit: str) -> list[dict]:
        pulls = self._session_json("get", f"list pull requests of commit {commit[:12]}", "reviews",
                                   self._url("commits", commit, "pulls"), 200) or []
        default = self.repo.default_branch
        out = []
        for data in pulls:
            if not data.get("merged_at") or (data.get("base") or {}).get("ref") != default:
                continue
            pull = ShortPullRequest(data, self.gh.session)
            head = (data.get("head") or {}).get("sha")
            latest = {}
            for review in self._call(f"list reviews of pull request #{pull.number}", "reviews", lambda: list(pull.reviews())):
                if review.user is None or review.state in ("COMMENTED", "PENDING"):
                    continue
                latest[review.user.login] = review
            for login, review in latest.items():
                if review.state == "APPROVED" and review.commit_id == head:
                    submitted = review.submitted_at.strftime("%Y-%m-%dT%H:%M:%SZ") if review.submitted_at else utc_now()
                    out.append({"actor": login, "environment": environment, "version": version, "commit": commit,
                                "time": submitted, "comment": review.body or None,
                                "source": f"review of pull request #{pull.number}"})
        return out

    def team_members(self, team: str) -> list[str]:
        members, page = [], 1
        while True:
            url = self.gh.session.build_url("orgs", self.owner, "teams", team, "members")
            batch = self._session_json("get", f"list members of team {self.owner}/{team}", "team", url, 200,
                                       params={"per_page": 100, "page": page}) or []
            members += [m["login"] for m in batch]
            if len(batch) < 100:
                return members
            page += 1

    # -- branch protection ----------------------------------------------------------------------
    def protect(self, branch: str, contexts: list[str]) -> dict:
        """Make ``contexts`` required on ``branch``, keeping every other protection setting.
        Idempotent: what is already required is left alone and reported as such."""
        url = self._url("branches", branch, "protection")
        what = f"branch protection of {branch}"
        try:
            current = self.gh._json(self.gh._request("get", url), 200)
        except gh_errors.NotFoundError as exc:
            if "not protected" not in str(exc.msg).lower():
                raise self._fail(exc, f"read {what}", "protect") from None
            current = None
        except gh_errors.GitHubException as exc:
            raise self._fail(exc, f"read {what}", "protect") from None
        checks = (current or {}).get("required_status_checks")
        if checks:
            have = set(checks.get("contexts") or []) | {c["context"] for c in checks.get("checks") or []}
            missing = [c for c in contexts if c not in have]
            if missing:
                self._session_json("post", f"add required checks to {branch}", "protect",
                                   f"{url}/required_status_checks/contexts", 200, json={"contexts": missing})
            return {"branch": branch, "added": missing, "already": [c for c in contexts if c in have],
                    "protection": "existing"}
        body = _protection_body(current or {})
        body["required_status_checks"] = {"strict": True, "contexts": list(contexts)}
        self._session_json("put", f"write {what}", "protect", url, 200, json=body)
        return {"branch": branch, "added": list(contexts), "already": [],
                "protection": "created" if current is None else "existing"}


def _protection_body(current: dict) -> dict:
    """The PUT shape of a protection GET answer (the two differ), so a rewrite keeps it all."""
    def enabled(key):
        return bool((current.get(key) or {}).get("enabled"))

    body = {"enforce_admins": enabled("enforce_admins"), "required_pull_request_reviews": None, "restrictions": None}
    reviews = current.get("required_pull_request_reviews")
    if reviews:
        body["required_pull_request_reviews"] = {
            k: reviews[k] for k in ("dismiss_stale_reviews", "require_code_owner_reviews",
                                    "required_approving_review_count", "require_last_push_approval") if k in reviews}
        restr = reviews.get("dismissal_restrictions")
        if restr:
            body["required_pull_request_reviews"]["dismissal_restrictions"] = {
                "users": [u["login"] for u in restr.get("users") or []],
                "teams": [t["slug"] for t in restr.get("teams") or []]}
    restr = current.get("restrictions")
    if restr:
        body["restrictions"] = {"users": [u["login"] for u in restr.get("users") or []],
                                "teams": [t["slug"] for t in restr.get("teams") or []],
                                "apps": [a["slug"] for a in restr.get("apps") or []]}
    for key in ("required_linear_history", "allow_force_pushes", "allow_deletions", "block_creations",
                "required_conversation_resolution", "lock_branch", "allow_fork_syncing"):
        if key in current:
            body[key] = enabled(key)
    return body
