"""The GitLab forge (scm/gitlab.py on python-gitlab) against the fake GitLab in fake_gitlab.py:
commit statuses per domain, one merge request note however many runs, deployments with their
status, approvals of protected-environment deployments, group members, retries and errors.
Not covered: a real GitLab (no network here); the fake's docstring lists what it leaves out.
The JUnit report reaches merge requests through the template (tested with gitlab-ci-local)."""

from __future__ import annotations

import json
from types import SimpleNamespace

import pytest

from conftest import run_cli
from fake_gitlab import FakeGitLab
from test_github import a_check, minimal_results

TOKEN = "glpat-fake"
SHA = "3c" * 20


@pytest.fixture
def fake():
    server = FakeGitLab(token=TOKEN).start()
    yield server
    server.stop()


def open_gitlab(fake: FakeGitLab, env: dict | None = None, token: str = TOKEN):
    from llmops_ci.scm.gitlab import GitLabForge

    config = SimpleNamespace(data={"forge": {"type": "gitlab", "api_url": fake.url + "/api/v4", "repository": fake.project,
                                             "retry": {"backoff_seconds": 0.05}}},
                             display="llmops.yaml", model_name="clinic-assistant")
    return GitLabForge(config, env={"GITLAB_TOKEN": token, **(env or {})}, say=lambda _: None)


def gitlab_ci_env(fake: FakeGitLab, **extra) -> dict:
    return {"GITLAB_CI": "true", "GITLAB_TOKEN": TOKEN, "CI_SERVER_URL": fake.url, "CI_PROJECT_PATH": fake.project,
            "CI_COMMIT_SHA": SHA, "CI_COMMIT_REF_NAME": "feature", "CI_MERGE_REQUEST_IID": "4",
            "CI_PIPELINE_ID": "77", "CI_PIPELINE_URL": f"{fake.url}/acme/llm/-/pipelines/77", "CI_JOB_ID": "901",
            **extra}


def test_report_sets_a_status_per_domain_and_keeps_one_note(project, fake):
    fake.notes[4] = {1: "a reviewer's note"}
    report = project / ".llmops" / "report"
    report.mkdir(parents=True)
    results = minimal_results()
    results["domains"]["medical"] = {**results["domains"]["safety"], "verdict": "FAIL", "passed": False, "suite": "medical"}
    results["verdict"], results["passed"] = "FAIL", False
    (report / "results.json").write_text(json.dumps(results))
    for _ in range(2):
        proc = run_cli("report", cwd=project, env=gitlab_ci_env(fake))
        assert proc.returncode == 0, proc.stderr[-2000:]
        assert TOKEN not in proc.stdout + proc.stderr
    assert [(s["name"], s["status"], s["sha"], s["pipeline_id"], s["ref"]) for s in fake.statuses] == [
        ("llmops/safety", "success", SHA, 77, "feature"), ("llmops/medical", "failed", SHA, 77, "feature")] * 2
    notes = list(fake.notes[4].values())
    assert len(notes) == 2 and notes[0] == "a reviewer's note"
    assert "<!-- llmops-ci:report:clinic-assistant -->" in notes[1] and "medical: FAIL" in notes[1]
    assert sum(r["method"] == "POST" and r["path"].endswith("/notes") for r in fake.requests) == 1


def test_deployment_is_created_running_then_marked(fake):
    forge = open_gitlab(fake, {"CI_COMMIT_REF_NAME": "main"})
    out = forge.finish_deployment(forge.start_deployment("production", 3, SHA, "promote"), "success")
    (dep,) = fake.deployments.values()
    assert (dep["environment"], dep["sha"], dep["ref"], dep["history"]) == ("production", SHA, "main", ["running", "success"])
    assert out["deployment_id"] == dep["id"]
    # Inside the environment's own job GitLab already records the deployment: none is added.
    inside = open_gitlab(fake, {"CI_ENVIRONMENT_NAME": "production", "CI_JOB_ID": "901"})
    done = inside.finish_deployment(inside.start_deployment("production", 4, SHA, "promote"), "success")
    assert "recorded by GitLab" in done["deployment"]
    assert len(fake.deployments) == 1


def test_approvals_come_from_this_jobs_deployment(fake):
    fake.add_deployment("production", SHA, [("bob", "approved"), ("erin", "rejected")], job_id=901)
    fake.add_deployment("production", SHA, [("mallory", "approved")], job_id=800)   # another job's
    fake.add_deployment("staging", SHA, [("carol", "approved")], job_id=901)         # another environment
    found = open_gitlab(fake, {"CI_JOB_ID": "901"}).approvals([], "production", 3, SHA)
    assert [(a["actor"], a["environment"], a["version"], a["commit"]) for a in found] == [("bob", "production", 3, SHA)]
    # outside a deployment job: every deployment of the commit to the environment
    anywhere = open_gitlab(fake).approvals([], "production", 3, SHA)
    assert sorted(a["actor"] for a in anywhere) == ["bob", "mallory"]
    assert open_gitlab(fake).approvals([], "production", 3, "00" * 20) == []


def test_team_is_a_group(fake):
    fake.groups["acme/release"] = ["carol", "dan"]
    assert open_gitlab(fake).team_members("acme/release") == ["carol", "dan"]


def test_a_502_is_retried_and_a_bad_token_is_one_line(fake):
    fake.fail_next("POST", r"/statuses/", 502)
    open_gitlab(fake).publish_checks(SHA, [a_check()])
    assert len(fake.statuses) == 1
    assert sum(r["path"].endswith(f"/statuses/{SHA}") for r in fake.requests) == 2

    from llmops_ci.errors import ExternalFailure

    with pytest.raises(ExternalFailure) as err:
        open_gitlab(fake, token="glpat-wrong-token").publish_checks(SHA, [a_check()])
    (line,) = err.value.lines
    assert "HTTP 401" in line and "GITLAB_TOKEN" in line and "glpat-wrong-token" not in line
    fake.fail_next("POST", r"/notes$", 403)
    fake.notes[4] = {}
    with pytest.raises(ExternalFailure) as err:
        open_gitlab(fake).upsert_report(4, "<!-- m -->", "<!-- m -->")
    assert "HTTP 403" in str(err.value) and "api scope" in str(err.value)
