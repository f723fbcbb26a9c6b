"""A small stateful GitLab REST (v4) server on loopback, for the GitLab adapter's flows.

What it does: keeps commit statuses, merge request notes, deployments (with approvals) and group
members for one project, answers the calls python-gitlab makes for scm/gitlab.py with the fields
GitLab's API documentation lists for them, records every request, and scripts faults with
``fail_next``. It checks the ``PRIVATE-TOKEN`` header and that each create carries the
attributes GitLab requires (state and name of a status, body of a note; environment, sha, ref,
tag and status of a deployment), answering 400 otherwise as GitLab does.

What it does not cover: GitLab has no machine-readable API description to validate against
here, so answers follow the documented examples by hand; no pagination past one page, no
status transition rules, no permissions model beyond the token check.
"""

from __future__ import annotations

import itertools
import re
from datetime import datetime, timezone
from urllib.parse import unquote

from fake_http import RecordingServer


def _now() -> str:
    return datetime.now(timezone.utc).strftime("%Y-%m-%dT%H:%M:%S.000Z")


class FakeGitLab(RecordingServer):
    def __init__(self, project: str = "acme/llm", token: str = "glpat-fake"):
        super().__init__()
        self.project, self.token = project, token
        self.ids = itertools.count(501)
        self.statuses: list[dict] = []
        self.notes: dict[int, dict[int, str]] = {}       # merge request iid -> note id -> body
        self.deployments: dict[int, dict] = {}
        self.groups: dict[str, list[str]] = {}
        self.url = f"http://127.0.0.1:{self.port}"

    def add_deployment(self, environment: str, sha: str, approvals: list[tuple[str, str]], job_id: int | None = None) -> int:
        did = next(self.ids)
        self.deployments[did] = {"id": did, "environment": environment, "sha": sha, "ref": "main", "status": "blocked",
                                 "job_id": job_id, "approvals": [
                                     {"user": self._user(u), "status": s, "created_at": _now(), "comment": None}
                                     for u, s in approvals]}
        return did

    def _user(self, username: str) -> dict:
        return {"id": abs(hash(username)) % 100000, "username": username, "name": username.title(), "state": "active",
                "avatar_url": None, "web_url": f"{self.url}/{username}"}

    def _deployment(self, d: dict) -> dict:
        return {"id": d["id"], "iid": d["id"], "ref": d["ref"], "sha": d["sha"], "status": d["status"],
                "created_at": _now(), "updated_at": _now(), "user": self._user("ci-bot"),
                "environment": {"id": 1, "name": d["environment"], "external_url": None},
                "deployable": {"id": d["job_id"], "status": "success", "name": "promote"} if d["job_id"] else None,
                "approvals": d["approvals"], "pending_approval_count": 0}

    def answer(self, method: str, path: str, query: dict, data: dict) -> tuple[int, object]:
        prefix = f"/api/v4/projects/{self.project}"
        if path.startswith("/api/v4/groups/") and path.endswith("/members/all"):
            group = path[len("/api/v4/groups/"):-len("/members/all")]
            if group not in self.groups:
                return 404, {"message": "404 Group Not Found"}
            return 200, [{**self._user(u), "access_level": 30} for u in self.groups[group]]
        if not path.startswith(prefix):
            return 404, {"message": "404 Project Not Found"}
        rest = path[len(prefix):]
        if m := re.fullmatch(r"/statuses/(\w+)", rest):
            if method != "POST" or "state" not in data:
                return 400, {"message": "400 Bad request - state is missing"}
            status = {"id": next(self.ids), "sha": m[1], "status": data["state"], "name": data.get("name", "default"),
                      "description": data.get("description"), "target_url": data.get("target_url"),
                      "ref": data.get("ref"), "pipeline_id": data.get("pipeline_id"), "created_at": _now()}
            self.statuses.append(status)
            return 201, {**status, "author": self._user("ci-bot"), "allow_failure": False}
        if m := re.fullmatch(r"/merge_requests/(\d+)/notes(?:/(\d+))?", rest):
            iid = int(m[1])
            if iid not in self.notes:
                return 404, {"message": "404 Merge Request Not Found"}
            notes = self.notes[iid]
            if method == "GET" and not m[2]:
                return 200, [self._note(nid, body) for nid, body in notes.items()]
            if method == "POST" and not m[2]:
                if not data.get("body"):
                    return 400, {"message": "400 Bad request - body is missing"}
                nid = next(self.ids)
                notes[nid] = data["body"]
                return 201, self._note(nid, data["body"])
            if method == "PUT" and m[2] and int(m[2]) in notes:
                notes[int(m[2])] = data["body"]
                return 200, self._note(int(m[2]), data["body"])
            return 404, {"message": "404 Not found"}
        if rest == "/deployments" and method == "POST":
            missing = [k for k in ("environment", "sha", "ref", "tag", "status") if k not in data]
            if missing:
                return 400, {"message": f"400 Bad request - {missing[0]} is missing"}
            did = next(self.ids)
            self.deployments[did] = {"id": did, "environment": data["environment"], "sha": data["sha"],
                                     "ref": data["ref"], "status": data["status"], "job_id": None, "approvals": [],
                                     "history": [data["status"]]}
            return 201, self._deployment(self.deployments[did])
        if rest == "/deployments" and method == "GET":
            found = [d for d in self.deployments.values()
                     if not query.get("environment") or d["environment"] == query["environment"]]
            found.sort(key=lambda d: d["id"], reverse=query.get("sort") == "desc")
            return 200, [self._deployment(d) for d in found]
        if (m := re.fullmatch(r"/deployments/(\d+)", rest)) and method == "PUT":
            d = self.deployments.get(int(m[1]))
            if d is None:
                return 404, {"message": "404 Not found"}
            d["status"] = data.get("status", d["status"])
            d.setdefault("history", []).append(d["status"])
            return 200, self._deployment(d)
        return 404, {"message": f"404 fake GitLab has no {method} {rest}"}

    def _note(self, nid: int, body: str) -> dict:
        return {"id": nid, "body": body, "author": self._user("ci-bot"), "created_at": _now(), "updated_at": _now(),
                "system": False, "noteable_type": "MergeRequest", "resolvable": False}

    def local_path(self, path: str) -> str:
        return unquote(path)  # python-gitlab sends the project path as acme%2Fllm

    def recorded_headers(self, headers) -> dict:
        return {"token": headers.get("PRIVATE-TOKEN")}

    def respond(self, method: str, path: str, query: dict, data, headers) -> tuple[int, object]:
        if headers.get("PRIVATE-TOKEN") != self.token:
            return 401, {"message": "401 Unauthorized"}
        return self.answer(method, path, query, data or {})
