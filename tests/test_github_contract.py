"""Contract test: every request the GitHub adapter makes is one GitHub's own API description
allows. The adapter runs every operation it has against the fake GitHub (which records each
request: method, path, query, JSON body); the recording is then replayed against Prism serving
``@octokit/openapi``'s ``generated/api.github.com.json``, which answers 4xx to a request the spec
forbids (a wrong path or parameter, a body with a missing field or a value outside its enum).

Prism's random answers do not parse in github3.py, hence record-then-replay rather than pointing
the adapter at Prism. Not covered: whether GitHub would accept the request for this token and
repository (scopes and state), which the fake and the permission lines are about.
"""

from __future__ import annotations

import json
import subprocess
import time
import urllib.error
import urllib.request

import pytest

from fake_github import FakeGitHub
from github_spec import PRISM, SPEC
from servers import free_port
from conftest import run_cli
from test_github import HEAD, a_check, github_env, open_github, report_ready


@pytest.fixture(scope="module")
def prism(tmp_path_factory):
    if not PRISM.exists() or not SPEC.is_file():
        raise RuntimeError(f"Prism or the GitHub spec is missing under {PRISM.parent.parent}: scripts/test.sh "
                           "installs @stoplight/prism-cli and @octokit/openapi with npm")
    port = free_port()
    log = tmp_path_factory.mktemp("prism") / "prism.log"
    with open(log, "w") as out:
        proc = subprocess.Popen([str(PRISM), "mock", str(SPEC), "-h", "127.0.0.1", "-p", str(port)],
                                stdout=out, stderr=subprocess.STDOUT)
    base = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 240  # loading GitHub's 13 MB description takes a while
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f"Prism exited: {log.read_text()[-2000:]}")
        try:
            urllib.request.urlopen(base + "/repos/acme/llm", timeout=5)
            break
        except urllib.error.HTTPError:
            break  # it answers
        except OSError:
            time.sleep(1)
    else:
        proc.kill()
        raise RuntimeError(f"Prism did not start within 240 s: {log.read_text()[-2000:]}")
    yield base
    proc.terminate()
    proc.wait(timeout=30)


def send(base: str, request: dict) -> tuple[int, str]:
    from urllib.parse import urlencode

    url = base + request["path"] + (("?" + urlencode(request["query"])) if request["query"] else "")
    body = json.dumps(request["json"]).encode() if request["json"] is not None else None
    req = urllib.request.Request(url, data=body, method=request["method"], headers={
        "Accept": "application/json", "Authorization": "token contract-test", "Content-Type": "application/json"})
    try:
        with urllib.request.urlopen(req, timeout=60) as resp:
            return resp.status, ""
    except urllib.error.HTTPError as exc:
        return exc.code, exc.read().decode(errors="replace")[:600]


def every_operation(project, tmp_path) -> list[dict]:
    """Drive each adapter operation once against the fake — `llmops-ci report` twice, as a pull
    request's evaluate job runs it, then every other call — and return what it sent."""
    fake = FakeGitHub().start()
    try:
        fake.add_pull(3, HEAD)
        report_ready(project)
        for _ in range(2):
            proc = run_cli("report", cwd=project, env=github_env(fake, tmp_path, number=3))
            assert proc.returncode == 0, proc.stderr[-2000:]
        forge = open_github(fake, env={"GITHUB_RUN_ID": "4242", "GITHUB_SHA": "9e" * 20})
        forge.publish_checks(HEAD, [a_check(annotations=60), a_check("llmops/safety", "INCONCLUSIVE", True)])
        forge.publish_checks(HEAD, [a_check(annotations=60)])  # the update path
        fake.forbid_check_runs = True
        forge.publish_checks("ab" * 20, [a_check("llmops/finance", "PASS", True)])  # the commit status path
        fake.add_pull(7, HEAD)
        forge.upsert_report(7, "<!-- m -->\nfirst", "<!-- m -->")
        forge.upsert_report(7, "<!-- m -->\nsecond", "<!-- m -->")
        forge.finish_deployment(forge.start_deployment("production", 3, "c0" * 20, "rollback"), "success")
        fake.run_approvals["4242"] = [{"login": "bob", "state": "approved", "environments": ["production"]}]
        fake.add_pull(9, "d0" * 20, merged_into="c0" * 20)
        fake.add_review(9, "carol", "APPROVED")
        assert len(forge.approvals([], "production", 3, "c0" * 20)) == 2
        fake.teams["release"] = ["carol"]
        forge.team_members("release")
        forge.protect("main", ["llmops/medical"])
        forge.protect("main", ["llmops/medical", "llmops/safety"])
        fake.protection["dev"] = {"required_status_checks": None, "enforce_admins": True,
                                  "required_pull_request_reviews": {"required_approving_review_count": 1}}
        forge.protect("dev", ["llmops/medical"])
    finally:
        fake.stop()
    assert not fake.errors, fake.errors
    return fake.requests


def test_every_request_the_adapter_makes_is_allowed_by_githubs_spec(prism, project, tmp_path):
    recorded = every_operation(project, tmp_path)
    kinds = {(r["method"], r["path"].split("/")[-1] if not r["path"].split("/")[-1].isdigit() else "{id}")
             for r in recorded}
    assert len(recorded) >= 20 and len(kinds) >= 12  # the scenario did reach every operation
    refused = []
    for request in recorded:
        status, body = send(prism, request)
        if 400 <= status < 500:
            refused.append(f"{request['method']} {request['path']} {json.dumps(request['json'])[:300]} -> {status}: {body}")
    assert not refused, "\n".join(refused)


def test_prism_does_refuse_what_the_spec_forbids(prism):
    """The replay above means something only if Prism says no to a bad request."""
    bad_conclusion = {"method": "POST", "path": "/repos/acme/llm/check-runs", "query": {},
                      "json": {"name": "llmops/medical", "head_sha": HEAD, "status": "completed", "conclusion": "passed"}}
    assert 400 <= send(prism, bad_conclusion)[0] < 500
    no_name = {"method": "POST", "path": f"/repos/acme/llm/statuses/{HEAD}", "query": {}, "json": {"state": "green"}}
    assert 400 <= send(prism, no_name)[0] < 500
