"""A small stateful GitHub REST server on loopback, for the GitHub adapter's flows.

What it does: keeps check runs, commit statuses, pull request comments, deployments and their
statuses, branch protection, a workflow run's deployment reviews, pull request reviews and team
members for one repository, and answers the calls scm/github.py makes. Every answer starts from
the spec's own example for that operation (so github3.py parses a realistic body), carries this
server's state and its own URLs (github3 follows the ``url`` fields), and is validated against
the operation's response schema in GitHub's OpenAPI description: an answer that does not
validate is recorded in ``errors`` and fails the test. Every request is recorded (method, path,
query, JSON body) so the contract test can replay them against Prism. ``fail_next`` scripts
5xx, rate limits and refusals.

What it does not cover: GitHub's checks of request bodies (Prism does that, from the same
spec), token scopes (``forbid_check_runs`` plays the read-only token), pagination past one page,
ETags, webhooks, GraphQL, and GitHub's timing.
"""

from __future__ import annotations

import itertools
import re
from datetime import datetime, timezone

from fake_http import RecordingServer
from github_spec import example, response_errors

ROUTES = [
    ("GET", "/repos/{owner}/{repo}"),
    ("GET", "/repos/{owner}/{repo}/commits/{ref}/check-runs"),
    ("POST", "/repos/{owner}/{repo}/check-runs"),
    ("PATCH", "/repos/{owner}/{repo}/check-runs/{check_run_id}"),
    ("POST", "/repos/{owner}/{repo}/statuses/{sha}"),
    ("GET", "/repos/{owner}/{repo}/issues/{issue_number}"),
    ("GET", "/repos/{owner}/{repo}/issues/{issue_number}/comments"),
    ("POST", "/repos/{owner}/{repo}/issues/{issue_number}/comments"),
    ("PATCH", "/repos/{owner}/{repo}/issues/comments/{comment_id}"),
    ("POST", "/repos/{owner}/{repo}/deployments"),
    ("POST", "/repos/{owner}/{repo}/deployments/{deployment_id}/statuses"),
    ("GET", "/repos/{owner}/{repo}/actions/runs/{run_id}/approvals"),
    ("GET", "/repos/{owner}/{repo}/commits/{commit_sha}/pulls"),
    ("GET", "/repos/{owner}/{repo}/pulls/{pull_number}/reviews"),
    ("GET", "/orgs/{org}/teams/{team_slug}/members"),
    ("GET", "/repos/{owner}/{repo}/branches/{branch}/protection"),
    ("PUT", "/repos/{owner}/{repo}/branches/{branch}/protection"),
    ("POST", "/repos/{owner}/{repo}/branches/{branch}/protection/required_status_checks/contexts"),
]
EXAMPLE_OF = {  # answers whose own example is incomplete borrow the example of the same schema
    ("GET", "/repos/{owner}/{repo}/issues/{issue_number}"): ("/repos/{owner}/{repo}/issues", "post", 201),
}


def _regex(template: str) -> re.Pattern:
    return re.compile("^" + re.sub(r"\\{(\w+)\\}", r"(?P<\1>[^/]+)", re.escape(template)) + "$")


def _now() -> str:
    return datetime.now(timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")


def _rebase(node, base: str):
    if isinstance(node, str):
        return node.replace("https://api.github.com", base)
    if isinstance(node, dict):
        return {k: _rebase(v, base) for k, v in node.items()}
    if isinstance(node, list):
        return [_rebase(v, base) for v in node]
    return node


def _full_media_type(body):
    """What GitHub adds for ``Accept: application/vnd.github.v3.full+json`` (github3.py asks for
    it): the rendered ``body_html`` and ``body_text`` beside every ``body``."""
    items = body if isinstance(body, list) else [body]
    for item in items:
        if isinstance(item, dict) and "body" in item:
            text = item["body"] or ""
            item.setdefault("body_html", f"<p>{text}</p>")
            item.setdefault("body_text", text)
    return body


class FakeGitHub(RecordingServer):
    def __init__(self, owner: str = "acme", repo: str = "llm", prefix: str = ""):
        super().__init__()
        self.owner, self.repo, self.prefix = owner, repo, prefix  # prefix "/api/v3": a GitHub Enterprise Server
        self.ids = itertools.count(101)
        self.check_runs: dict[int, dict] = {}
        self.statuses: list[dict] = []
        self.pulls: dict[int, dict] = {}          # number -> {head, base, merged_at, reviews: [...], comments: {id: body}}
        self.commit_pulls: dict[str, list[int]] = {}
        self.comment_ids: dict[int, int] = {}     # comment id -> pull number
        self.deployments: dict[int, dict] = {}
        self.run_approvals: dict[str, list[dict]] = {}
        self.teams: dict[str, list[str]] = {}
        self.protection: dict[str, dict] = {}
        self.forbid_check_runs = False
        self.errors: list[str] = []
        self.base = f"http://127.0.0.1:{self.port}{prefix}"
        self._routes = [(m, t, _regex(t)) for m, t in ROUTES]

    # -- test controls --------------------------------------------------------------------------
    def add_pull(self, number: int, head: str, base: str = "main", merged_into: str | None = None) -> None:
        self.pulls[number] = {"head": head, "base": base, "merged_at": _now() if merged_into else None,
                              "reviews": [], "comments": {}}
        if merged_into:
            self.commit_pulls.setdefault(merged_into, []).append(number)

    def add_review(self, number: int, login: str, state: str, commit: str | None = None) -> None:
        self.pulls[number]["reviews"].append({"login": login, "state": state,
                                              "commit": commit or self.pulls[number]["head"], "at": _now()})

    def comments(self, number: int) -> list[str]:
        return list(self.pulls[number]["comments"].values())

    def runs_named(self, name: str, sha: str | None = None) -> list[dict]:
        return [r for r in self.check_runs.values() if r["name"] == name and (sha is None or r["head_sha"] == sha)]

    # -- answers ---------------------------------------------------------------------------------
    def _url(self, *parts) -> str:
        return "/".join([self.base, "repos", self.owner, self.repo, *map(str, parts)])

    def _user(self, login: str) -> dict:
        user = example("/orgs/{org}/teams/{team_slug}/members", "get", 200)[0]
        return {**_rebase(user, self.base), "login": login, "id": abs(hash(login)) % 10_000_000}

    def _check_run(self, run: dict) -> dict:
        body = _rebase(example("/repos/{owner}/{repo}/check-runs", "post", 201), self.base)
        body.update(id=run["id"], name=run["name"], head_sha=run["head_sha"], status=run["status"],
                    conclusion=run["conclusion"], details_url=run.get("details_url"),
                    started_at=run["started_at"], completed_at=run.get("completed_at"),
                    url=self._url("check-runs", run["id"]), external_id=None, pull_requests=[])
        body["output"] = {"title": run["output"].get("title"), "summary": run["output"].get("summary"), "text": None,
                          "annotations_count": len(run["annotations"]),
                          "annotations_url": self._url("check-runs", run["id"], "annotations")}
        return body

    def _comment(self, cid: int, number: int, text: str) -> dict:
        body = _rebase(example("/repos/{owner}/{repo}/issues/{issue_number}/comments", "post", 201), self.base)
        body.update(id=cid, body=text, url=self._url("issues", "comments", cid),
                    issue_url=self._url("issues", number))
        return body

    def _deployment(self, dep: dict) -> dict:
        body = _rebase(example("/repos/{owner}/{repo}/deployments", "post", 201), self.base)
        body.update(id=dep["id"], sha=dep["ref"], ref=dep["ref"], environment=dep["environment"],
                    payload=dep["payload"], description=dep["description"], url=self._url("deployments", dep["id"]),
                    statuses_url=self._url("deployments", dep["id"], "statuses"), original_environment=dep["environment"])
        return body

    def _protection(self, branch: str) -> dict:
        stored = self.protection[branch]
        body = _rebase(example("/repos/{owner}/{repo}/branches/{branch}/protection", "get", 200), self.base)
        url = self._url("branches", branch, "protection")
        checks = stored.get("required_status_checks")
        body["url"] = url
        if checks:
            body["required_status_checks"] = {
                "url": f"{url}/required_status_checks", "strict": checks.get("strict", False),
                "contexts": list(checks["contexts"]), "checks": [{"context": c, "app_id": None} for c in checks["contexts"]],
                "contexts_url": f"{url}/required_status_checks/contexts"}
        else:
            body.pop("required_status_checks", None)
        reviews = stored.get("required_pull_request_reviews")
        if reviews:
            body["required_pull_request_reviews"] = {
                "url": f"{url}/required_pull_request_reviews",
                "dismiss_stale_reviews": bool(reviews.get("dismiss_stale_reviews")),
                "require_code_owner_reviews": bool(reviews.get("require_code_owner_reviews")),
                **({"required_approving_review_count": reviews["required_approving_review_count"]}
                   if "required_approving_review_count" in reviews else {})}
        else:
            body.pop("required_pull_request_reviews", None)
        body["enforce_admins"] = {"url": f"{url}/enforce_admins", "enabled": bool(stored.get("enforce_admins"))}
        body.pop("restrictions", None)
        for key in ("required_linear_history", "allow_force_pushes", "allow_deletions", "block_creations",
                    "required_conversation_resolution", "lock_branch", "allow_fork_syncing"):
            body[key] = {"enabled": bool(stored.get(key))}
        return body

    def answer(self, method: str, template: str, p: dict, query: dict, data) -> tuple[int, object]:
        if template == "/repos/{owner}/{repo}":
            body = _rebase(example(template, "get", 200), self.base)
            body.update(name=self.repo, full_name=f"{self.owner}/{self.repo}", url=self._url()[:-1].rstrip("/"),
                        default_branch="main", language=None)
            body["url"] = "/".join([self.base, "repos", self.owner, self.repo])
            body["owner"]["login"] = self.owner
            body.pop("source", None)
            body.pop("parent", None)
            return 200, body
        if template == "/repos/{owner}/{repo}/commits/{ref}/check-runs":
            runs = [self._check_run(r) for r in self.check_runs.values() if r["head_sha"] == p["ref"]
                    and (not query.get("check_name") or r["name"] == query["check_name"])]
            if query.get("filter", "latest") == "latest":  # GitHub: the newest run of each name
                newest = {}
                for r in runs:
                    newest[r["name"]] = r
                runs = list(newest.values())
            return 200, {"total_count": len(runs), "check_runs": runs}
        if template == "/repos/{owner}/{repo}/check-runs":
            if self.forbid_check_runs:
                return 403, {"message": "Resource not accessible by integration",
                             "documentation_url": "https://docs.github.com/rest/checks/runs#create-a-check-run"}
            run = {"id": next(self.ids), "name": data["name"], "head_sha": data["head_sha"],
                   "status": data.get("status", "queued"), "conclusion": data.get("conclusion"),
                   "details_url": data.get("details_url"), "started_at": data.get("started_at") or _now(),
                   "completed_at": data.get("completed_at"), "output": data.get("output") or {},
                   "annotations": list((data.get("output") or {}).get("annotations") or [])}
            self.check_runs[run["id"]] = run
            return 201, self._check_run(run)
        if template == "/repos/{owner}/{repo}/check-runs/{check_run_id}":
            run = self.check_runs.get(int(p["check_run_id"]))
            if run is None:
                return 404, {"message": "Not Found"}
            for k in ("name", "status", "conclusion", "details_url", "completed_at"):
                if k in data:
                    run[k] = data[k]
            if "output" in data:
                run["output"] = {**run["output"], **{k: v for k, v in data["output"].items() if k != "annotations"}}
                run["annotations"] += data["output"].get("annotations") or []  # GitHub appends
            return 200, self._check_run(run)
        if template == "/repos/{owner}/{repo}/statuses/{sha}":
            status = {"id": next(self.ids), "sha": p["sha"], **data}
            self.statuses.append(status)
            body = _rebase(example(template, "post", 201), self.base)
            body.update(id=status["id"], state=data["state"], context=data.get("context", "default"),
                        description=data.get("description"), target_url=data.get("target_url"),
                        url=self._url("statuses", p["sha"]))
            return 201, body
        if template == "/repos/{owner}/{repo}/issues/{issue_number}":
            number = int(p["issue_number"])
            if number not in self.pulls:
                return 404, {"message": "Not Found"}
            body = _rebase(example(*EXAMPLE_OF[("GET", template)]), self.base)
            body.update(number=number, url=self._url("issues", number), comments_url=self._url("issues", number, "comments"),
                        comments=len(self.pulls[number]["comments"]), repository_url=self._url()[:-1])
            return 200, body
        if template == "/repos/{owner}/{repo}/issues/{issue_number}/comments":
            number = int(p["issue_number"])
            pull = self.pulls.get(number)
            if pull is None:
                return 404, {"message": "Not Found"}
            if method == "GET":
                return 200, [self._comment(cid, number, text) for cid, text in pull["comments"].items()]
            cid = next(self.ids)
            pull["comments"][cid] = data["body"]
            self.comment_ids[cid] = number
            return 201, self._comment(cid, number, data["body"])
        if template == "/repos/{owner}/{repo}/issues/comments/{comment_id}":
            cid = int(p["comment_id"])
            number = self.comment_ids.get(cid)
            if number is None:
                return 404, {"message": "Not Found"}
            self.pulls[number]["comments"][cid] = data["body"]
            return 200, self._comment(cid, number, data["body"])
        if template == "/repos/{owner}/{repo}/deployments":
            dep = {"id": next(self.ids), "ref": data["ref"], "environment": data.get("environment", "production"),
                   "payload": data.get("payload", {}), "description": data.get("description"), "statuses": []}
            self.deployments[dep["id"]] = dep
            return 201, self._deployment(dep)
        if template == "/repos/{owner}/{repo}/deployments/{deployment_id}/statuses":
            dep = self.deployments.get(int(p["deployment_id"]))
            if dep is None:
                return 404, {"message": "Not Found"}
            dep["statuses"].append({"state": data["state"], "description": data.get("description"),
                                    "target_url": data.get("target_url")})
            body = _rebase(example(template, "post", 201), self.base)
            body.update(id=next(self.ids), state=data["state"], description=data.get("description") or "",
                        deployment_url=self._url("deployments", dep["id"]), environment=dep["environment"])
            return 201, body
        if template == "/repos/{owner}/{repo}/actions/runs/{run_id}/approvals":
            out = []
            for a in self.run_approvals.get(p["run_id"], []):
                item = _rebase(example(template, "get", 200)[0], self.base)
                env = item["environments"][0]
                item.update(state=a["state"], user=self._user(a["login"]), comment=a.get("comment", ""),
                            environments=[{**env, "name": name} for name in a["environments"]])
                out.append(item)
            return 200, out
        if template == "/repos/{owner}/{repo}/commits/{commit_sha}/pulls":
            out = []
            for number in self.commit_pulls.get(p["commit_sha"], []):
                pull = self.pulls[number]
                item = _rebase(example(template, "get", 200)[0], self.base)
                item.update(number=number, url=self._url("pulls", number), merged_at=pull["merged_at"],
                            requested_teams=[], state="closed")
                item["head"] = {**item["head"], "sha": pull["head"]}
                item["base"] = {**item["base"], "ref": pull["base"]}
                out.append(item)
            return 200, out
        if template == "/repos/{owner}/{repo}/pulls/{pull_number}/reviews":
            pull = self.pulls.get(int(p["pull_number"]))
            if pull is None:
                return 404, {"message": "Not Found"}
            out = []
            for i, r in enumerate(pull["reviews"]):
                item = _rebase(example(template, "get", 200)[0], self.base)
                item.update(id=1000 + i, user=self._user(r["login"]), state=r["state"], commit_id=r["commit"],
                            submitted_at=r["at"], body="")
                out.append(item)
            return 200, out
        if template == "/orgs/{org}/teams/{team_slug}/members":
            if p["team_slug"] not in self.teams:
                return 404, {"message": "Not Found"}
            return 200, [self._user(login) for login in self.teams[p["team_slug"]]]
        if template == "/repos/{owner}/{repo}/branches/{branch}/protection":
            branch = p["branch"]
            if method == "GET":
                if branch not in self.protection:
                    return 404, {"message": "Branch not protected",
                                 "documentation_url": "https://docs.github.com/rest/branches/branch-protection"}
                return 200, self._protection(branch)
            self.protection[branch] = {**data, "required_status_checks": data.get("required_status_checks")}
            body = _rebase(example(template, "put", 200), self.base)
            view = self._protection(branch)
            body.update(url=view["url"])
            if view.get("required_status_checks"):
                body["required_status_checks"] = view["required_status_checks"]
            return 200, body
        if template.endswith("/required_status_checks/contexts"):
            stored = self.protection.get(p["branch"], {}).get("required_status_checks")
            if stored is None:
                return 404, {"message": "Not Found"}
            wanted = data["contexts"] if isinstance(data, dict) else data
            stored["contexts"] = stored["contexts"] + [c for c in wanted if c not in stored["contexts"]]
            return 200, list(stored["contexts"])
        raise AssertionError(f"no answer for {method} {template}")

    # -- plumbing --------------------------------------------------------------------------------
    def local_path(self, path: str) -> str:
        return path[len(self.prefix):] if self.prefix and path.startswith(self.prefix) else path

    def recorded_headers(self, headers) -> dict:
        return {"authorization": headers.get("Authorization")}

    def respond(self, method: str, path: str, query: dict, data, headers) -> tuple[int, object]:
        for verb, template, regex in self._routes:
            match = regex.match(path)
            if match and verb == method:
                break
        else:
            return 404, {"message": "Not Found (fake GitHub has no such route)"}
        if not headers.get("Authorization", "").startswith("token "):
            return 401, {"message": "Requires authentication"}
        try:
            status, body = self.answer(method, template, match.groupdict(), query, data or {})
        except Exception as exc:  # a bug here must show in the test, not as a hang
            self.errors.append(f"{method} {template}: {type(exc).__name__}: {exc}")
            return 500, {"message": str(exc)}
        if 200 <= status < 300:
            if ".full+json" in headers.get("Accept", ""):
                body = _full_media_type(body)
            self.errors += response_errors(template, method, status, body)
        return status, body
