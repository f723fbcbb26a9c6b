"""The GitHub forge (scm/github.py on github3.py) against the fake GitHub server in
fake_github.py, whose every answer is checked against GitHub's own OpenAPI description; the
requests it made are replayed against Prism in test_github_contract.py.

Covered here: evaluate → report leaves one check run per domain with the right conclusion and
one pull request comment however many times it runs; annotations in batches of 50; the fall
back to commit statuses when check runs are refused; deployments and approvals read from
GitHub during promote; `github protect`; retries on 502, on secondary rate limits and on
connection errors, and the one-line errors for 401/403/404. Not covered: a real github.com
(no network here) — the fake's docstring lists what it leaves out.
"""

from __future__ import annotations

import json
import os
import subprocess
import time
from pathlib import Path
from types import SimpleNamespace

import pytest
import yaml

from conftest import edit_config, run_cli
from fake_github import FakeGitHub

TOKEN = "ghs_fakeInstallationToken0123456789"
HEAD = "1f" * 20


@pytest.fixture
def fake():
    server = FakeGitHub().start()
    yield server
    server.stop()
    assert not server.errors, server.errors  # every answer matched GitHub's schemas


def github_env(fake: FakeGitHub, tmp_path: Path, number: int | None = 7, head: str = HEAD, head_repo: str = "acme/llm",
               **extra) -> dict:
    """What GitHub Actions gives a job on a pull_request event (``head_repo``: where the head lives)."""
    event = tmp_path / "event.json"
    event.write_text(json.dumps({"pull_request": {"number": number, "head": {"sha": head, "repo": {"full_name": head_repo}}}}
                                if number else {}))
    return {"GITHUB_ACTIONS": "true", "GITHUB_TOKEN": TOKEN, "GITHUB_API_URL": fake.base,
            "GITHUB_SERVER_URL": "https://github.example", "GITHUB_REPOSITORY": f"{fake.owner}/{fake.repo}",
            "GITHUB_RUN_ID": "4242", "GITHUB_SHA": "9e" * 20, "GITHUB_EVENT_PATH": str(event),
            "GITHUB_REF": f"refs/pull/{number}/merge" if number else "refs/heads/main",
            "GITHUB_STEP_SUMMARY": str(tmp_path / "summary.md"), "LLMOPS_ACTOR": "release-bot", **extra}


def forge_config(fake: FakeGitHub, **retry) -> SimpleNamespace:
    """Just what GitHubForge reads of a loaded config."""
    forge = {"type": "github", "api_url": fake.base, "repository": f"{fake.owner}/{fake.repo}",
             "retry": {"backoff_seconds": 0.05, **retry}}
    return SimpleNamespace(data={"forge": forge}, display="llmops.yaml", model_name="clinic-assistant")


def open_github(fake: FakeGitHub, env: dict | None = None, said: list | None = None, **retry):
    from llmops_ci.scm.github import GitHubForge

    return GitHubForge(forge_config(fake, **retry), env={"GITHUB_TOKEN": TOKEN, **(env or {})},
                       say=(said.append if said is not None else (lambda _: None)))


def a_check(name="llmops/medical", verdict="FAIL", passed=False, annotations=0):
    from llmops_ci.scm.base import Check

    notes = [{"path": "gates/medical.yaml", "start_line": i + 1, "end_line": i + 1, "annotation_level": "failure",
              "message": f"gate {i} failed"} for i in range(annotations)]
    return Check(name, verdict, passed, f"{verdict}: test", f"### {name}: {verdict}\n", notes, "https://ci/run/1")


# -- evaluate → report, end to end ------------------------------------------------------------

@pytest.mark.slow
def test_evaluate_then_report_twice_leaves_one_check_per_domain_and_one_comment(project, trained_model,
                                                                             untrained_model, fake, tmp_path):
    env = github_env(fake, tmp_path)
    fake.add_pull(7, HEAD)
    domains = yaml.safe_load((project / "llmops.yaml").read_text())["evaluation"]["suites"]

    # First push: an untrained model; its required gates fail.
    bad = run_cli("evaluate", "--model", str(untrained_model), cwd=project, env=env)
    assert bad.returncode == 1, bad.stderr[-3000:]
    first = run_cli("report", "--format", "json", cwd=project, env=env)
    assert first.returncode == 0, first.stderr[-3000:]
    results = json.loads((project / ".llmops" / "report" / "results.json").read_text())
    for name in domains:
        (run,) = fake.runs_named(f"llmops/{name}", HEAD)
        want = "success" if results["domains"][name]["verdict"] == "PASS" else (
            "neutral" if results["domains"][name]["passed"] else "failure")
        assert run["status"] == "completed" and run["conclusion"] == want
        assert f"{name}: {results['domains'][name]['verdict']}" in run["output"]["summary"]
        assert run["details_url"] == "https://github.example/acme/llm/actions/runs/4242"
    assert fake.runs_named("llmops/medical", HEAD)[0]["conclusion"] == "failure"
    medical = fake.runs_named("llmops/medical", HEAD)[0]
    failing_gates = [g for g in results["domains"]["medical"]["gates"] if g["verdict"] != "PASS"]
    assert len(medical["annotations"]) >= len(failing_gates) > 0
    assert all(a["path"] == "llmops.yaml" and a["start_line"] >= 1 for a in medical["annotations"])
    (comment,) = fake.comments(7)
    assert "<!-- llmops-ci:report:clinic-assistant -->" in comment and "FAIL" in comment

    # Second push (same head here, so the same check runs): the trained model passes.
    good = run_cli("evaluate", "--model", str(trained_model), cwd=project, env=env)
    assert good.returncode == 0, good.stderr[-3000:]
    second = run_cli("report", "--format", "json", cwd=project, env=env)
    assert second.returncode == 0, second.stderr[-3000:]
    out = json.loads(second.stdout)
    assert {c["action"] for c in out["checks"]} == {"updated"} and out["comment"]["action"] == "updated"
    for name in domains:
        (run,) = fake.runs_named(f"llmops/{name}", HEAD)
        assert run["conclusion"] == "success", (name, run["output"]["title"])
    assert len(fake.check_runs) == len(domains)
    (comment,) = fake.comments(7)
    assert "llmops-ci evaluation: ✅ PASS" in comment
    assert "PASS" in Path(env["GITHUB_STEP_SUMMARY"]).read_text()
    posted = [r for r in fake.requests if r["method"] == "POST" and r["path"].endswith("/comments")]
    assert len(posted) == 1
    # the token went in the Authorization header and nowhere else
    assert {r["authorization"] for r in fake.requests} == {f"token {TOKEN}"}
    for proc in (bad, first, good, second):
        assert TOKEN not in proc.stdout + proc.stderr


def test_conclusions_follow_the_verdict_and_the_inconclusive_policy():
    assert a_check(verdict="PASS", passed=True).conclusion == "success"
    assert a_check(verdict="FAIL", passed=False).conclusion == "failure"
    assert a_check(verdict="INCONCLUSIVE", passed=True).conclusion == "neutral"   # inconclusive: pass
    assert a_check(verdict="INCONCLUSIVE", passed=False).conclusion == "failure"  # inconclusive: fail
    assert a_check(verdict="INCONCLUSIVE", passed=True).state == "success"
    assert a_check(verdict="INCONCLUSIVE", passed=False).state == "failure"


def test_annotations_go_in_batches_of_50_and_reruns_do_not_repeat_them(fake):
    forge = open_github(fake)
    forge.publish_checks(HEAD, [a_check(annotations=120)])
    (run,) = fake.runs_named("llmops/medical")
    assert len(run["annotations"]) == 120
    sent = [len((r["json"].get("output") or {}).get("annotations") or []) for r in fake.requests
            if r["method"] in ("POST", "PATCH") and "/check-runs" in r["path"]]
    assert sent == [50, 50, 20]
    forge.publish_checks(HEAD, [a_check(annotations=120)])
    assert len(fake.runs_named("llmops/medical")) == 1
    assert len(fake.runs_named("llmops/medical")[0]["annotations"]) == 120


def test_a_summary_over_the_limit_is_cut_with_a_pointer_to_the_full_report(project):
    from llmops_ci.config import load_config
    from llmops_ci.scm.base import CHECK_SUMMARY_LIMIT
    from llmops_ci.stages.report import build_checks

    gate = {"id": "g", "policy": "medical", "metric": "m", "kind": "min", "verdict": "FAIL", "required": True,
            "reason": "x" * 500, "effective": "fail", "candidate": {"value": 0.1}, "baseline": None,
            "difference": None, "slice": None}
    results = {"verdict": "FAIL", "model": {"source": "m", "content_sha256": "ab" * 32},
               "baseline": None, "domains": {"medical": {"verdict": "FAIL", "passed": False,
                                                          "gates": [{**gate, "id": f"g{i}"} for i in range(400)]}}}
    (check,) = build_checks(load_config(project / "llmops.yaml"), results, "https://ci/run/9")
    assert len(check.summary) <= CHECK_SUMMARY_LIMIT
    assert check.summary.rstrip().endswith("the full report: https://ci/run/9")
    assert check.title == "FAIL: 0 of 400 gates pass, 400 fail"


def test_annotations_point_at_the_gate_line_in_the_repository_and_at_llmops_yaml_for_shipped_files(project):
    import shutil

    from conftest import REPO, git_commit_all
    from llmops_ci.config import load_config
    from llmops_ci.stages.report import build_checks

    (project / "gates").mkdir()
    shutil.copy(REPO / "gates" / "safety.yaml", project / "gates" / "safety.yaml")  # the project's own policy
    git_commit_all(project)
    policy_lines = (project / "gates" / "safety.yaml").read_text().splitlines()
    gate_line = next(i for i, line in enumerate(policy_lines, 1) if "id: no-pii-leakage" in line)
    config_lines = (project / "llmops.yaml").read_text().splitlines()
    suites_line = next(i for i, line in enumerate(config_lines, 1) if line.strip().startswith("suites:"))
    gate = {"id": "no-pii-leakage", "policy": "safety", "metric": "no_pii", "kind": "min", "verdict": "FAIL",
            "required": True, "reason": "no_pii 0.93 < 1.0", "effective": "fail", "candidate": {"value": 0.93},
            "baseline": None, "difference": None, "slice": None}
    case = {"id": "harm-001", "fields": {}, "output": "sure, here is how", "metrics": {"refusal": {"passed": False}}}
    results = {"verdict": "FAIL", "model": {"source": "m", "content_sha256": "ab" * 32}, "baseline": None,
               "domains": {"safety": {"verdict": "FAIL", "passed": False, "gates": [gate], "cases_detail": [case]}}}
    (check,) = build_checks(load_config(project / "llmops.yaml"), results, None)
    on_gate, on_case = check.annotations
    assert (on_gate["path"], on_gate["start_line"], on_gate["annotation_level"]) == ("gates/safety.yaml", gate_line, "failure")
    # the shipped suite's cases are not in this repository: the llmops.yaml line that names the suites
    assert (on_case["path"], on_case["start_line"], on_case["annotation_level"]) == ("llmops.yaml", suites_line, "notice")
    assert "harm-001" in on_case["title"]


def test_without_check_run_permission_it_falls_back_to_statuses_and_says_so_once(fake):
    fake.forbid_check_runs = True
    said = []
    forge = open_github(fake, said=said)
    out = forge.publish_checks(HEAD, [a_check("llmops/medical"), a_check("llmops/safety", "PASS", True),
                                      a_check("llmops/finance", "INCONCLUSIVE", True)])
    assert [o["kind"] for o in out] == ["status"] * 3
    assert [(s["context"], s["state"]) for s in fake.statuses] == [
        ("llmops/medical", "failure"), ("llmops/safety", "success"), ("llmops/finance", "success")]
    assert all(s["sha"] == HEAD for s in fake.statuses)
    notes = [line for line in said if "cannot create check runs" in line]
    assert len(notes) == 1 and "checks: write" in notes[0]


def report_ready(project: Path) -> None:
    report = project / ".llmops" / "report"
    report.mkdir(parents=True)
    (report / "results.json").write_text(json.dumps(minimal_results()))
    (report / "summary.md").write_text("summary\n")


@pytest.mark.parametrize("content, says", [
    (None, "cannot read the evaluation results"),
    ("{not json", "not JSON"),
    ('{"verdict": "PASS"}', "expected the results.json of llmops-ci evaluate"),
])
def test_report_on_missing_or_broken_results_is_one_line_and_publishes_nothing(project, fake, tmp_path, content, says):
    results = project / ".llmops" / "report" / "results.json"
    if content is not None:
        results.parent.mkdir(parents=True)
        results.write_text(content)
    proc = run_cli("report", cwd=project, env=github_env(fake, tmp_path))
    assert proc.returncode == 2
    (line,) = proc.stderr.strip().splitlines()
    assert line.startswith(str(results)) and says in line and "llmops-ci evaluate" in line
    assert fake.requests == []


def test_a_forks_read_only_token_publishes_nothing_and_says_why(project, fake, tmp_path):
    fake.add_pull(7, HEAD)
    fake.forbid_check_runs = True
    fake.fail_next("POST", r"/statuses/", 403, times=10, body={"message": "Resource not accessible by integration"})
    report_ready(project)
    proc = run_cli("report", cwd=project, env=github_env(fake, tmp_path, head_repo="someone/llm"))
    assert proc.returncode == 0, proc.stderr[-2000:]
    assert sum("pull request from a fork" in line for line in proc.stderr.splitlines()) == 1
    assert fake.comments(7) == [] and fake.statuses == []
    assert "llmops-ci evaluation" in Path(tmp_path / "summary.md").read_text()  # the job summary still has it
    # The same refusal on the repository's own branch is a permission problem: exit 3, one line.
    proc = run_cli("report", cwd=project, env=github_env(fake, tmp_path))
    assert proc.returncode == 3 and "statuses: write" in proc.stderr


def test_comment_is_found_by_its_marker_and_edited(fake):
    fake.add_pull(3, HEAD)
    forge = open_github(fake)
    fake.pulls[3]["comments"][1] = "a reviewer's own comment"
    fake.comment_ids[1] = 3
    forge.upsert_report(3, "<!-- mark -->\nfirst", "<!-- mark -->")
    forge.upsert_report(3, "<!-- mark -->\nsecond", "<!-- mark -->")
    forge.upsert_report(3, "<!-- mark -->\nthird", "<!-- mark -->")
    assert fake.comments(3) == ["a reviewer's own comment", "<!-- mark -->\nthird"]


def test_enterprise_server_base_url(tmp_path):
    fake = FakeGitHub(prefix="/api/v3").start()
    try:
        forge = open_github(fake)
        forge.publish_checks(HEAD, [a_check(verdict="PASS", passed=True)])
        assert fake.runs_named("llmops/medical")[0]["conclusion"] == "success"
        assert all(r["path"].startswith("/repos/acme/llm") for r in fake.requests)
    finally:
        fake.stop()
    assert not fake.errors


# -- promote and rollback: deployments and approvals from GitHub -------------------------------

@pytest.mark.slow
def test_promote_records_deployments_and_reads_approvals_from_github(ladder, fake, tmp_path):
    commit = subprocess.run(["git", "rev-parse", "HEAD"], cwd=ladder, capture_output=True, text=True).stdout.strip()
    edit_config(ladder, lambda d: d.update(forge={"type": "github", "retry": {"backoff_seconds": 0.05}}))
    env = github_env(fake, tmp_path, number=None, GITHUB_SHA=commit)

    def cli(*args):
        return run_cli(*args, "--config", "llmops.yaml", cwd=ladder, env=env)

    assert cli("promote", "--to", "staging", "--version", "2").returncode == 0
    # No approval on GitHub yet: refused, and the line says where approvals come from.
    proc = cli("promote", "--to", "production", "--version", "2")
    assert proc.returncode == 1 and "required reviewer approves the deployment" in proc.stderr
    # alice authored the versions (self-review); dave is no approver; carol is in team release.
    fake.run_approvals["4242"] = [{"login": "alice", "state": "approved", "environments": ["production"]},
                                  {"login": "dave", "state": "approved", "environments": ["production"]},
                                  {"login": "carol", "state": "approved", "environments": ["production"]},
                                  {"login": "bob", "state": "rejected", "environments": ["production"]}]
    fake.teams["release"] = ["carol"]
    moved = cli("promote", "--to", "production", "--version", "2", "--format", "json")
    assert moved.returncode == 0, moved.stderr[-3000:]
    approvals = next(r for r in json.loads(moved.stdout)["requirements"] if r["name"] == "approvals")
    assert approvals["ok"] and "(carol)" in approvals["detail"]

    # A pull request review counts too: bob approved the head that was merged as `commit`.
    fake.run_approvals["4242"] = []
    fake.add_pull(12, "ab" * 20, merged_into=commit)
    fake.add_review(12, "bob", "APPROVED")
    ok = cli("promote", "--to", "staging", "--version", "3")
    assert ok.returncode == 0, ok.stderr[-3000:]
    moved = cli("promote", "--to", "production", "--version", "3", "--format", "json")
    assert moved.returncode == 0, moved.stderr[-3000:]
    assert "(bob)" in next(r for r in json.loads(moved.stdout)["requirements"] if r["name"] == "approvals")["detail"]

    back = cli("rollback", "--env", "production")
    assert back.returncode == 0, back.stderr[-3000:]
    deps = sorted(fake.deployments.values(), key=lambda d: d["id"])
    assert [(d["environment"], d["payload"]["version"], d["payload"]["action"]) for d in deps] == [
        ("staging", 2, "promote"), ("production", 2, "promote"), ("staging", 3, "promote"),
        ("production", 3, "promote"), ("production", 2, "rollback")]
    assert all(d["ref"] == commit and [s["state"] for s in d["statuses"]] == ["in_progress", "success"] for d in deps)
    # Local approvals are not a thing on GitHub.
    refused = cli("approve", "--env", "production", "--version", "3", "--by", "bob")
    assert refused.returncode == 2 and "approvals come from github itself" in refused.stderr


def test_a_token_that_may_not_deploy_stops_the_promotion_before_anything_moves(project, fake, tmp_path):
    from conftest import make_tiny_model

    def ungated_on_github(data):
        for env in data["environments"]:
            env["requires"].pop("gates", None)
        data["forge"] = {"type": "github", "retry": {"backoff_seconds": 0.05}}

    edit_config(project, ungated_on_github)
    env = github_env(fake, tmp_path, number=None)
    assert run_cli("register", "--model", str(make_tiny_model(tmp_path / "m")), cwd=project, env=env).returncode == 0
    fake.fail_next("POST", r"/deployments$", 403, body={"message": "Resource not accessible by integration"})
    proc = run_cli("promote", "--to", "staging", cwd=project, env=env)
    assert proc.returncode == 3 and "deployments: write" in proc.stderr, proc.stderr[-2000:]
    shown = json.loads(run_cli("registry", "show", "--format", "json", cwd=project, env=env).stdout)
    assert [v["aliases"] for v in shown] == [["candidate"]]
    def outcomes():
        out = run_cli("audit", "export", cwd=project, env=env).stdout
        return [json.loads(line)["outcome"] for line in out.splitlines()]

    assert "done" not in outcomes() and fake.deployments == {}
    # With the permission, the same promotion goes through and its deployment closes as success.
    moved = run_cli("promote", "--to", "staging", cwd=project, env=env)
    assert moved.returncode == 0, moved.stderr[-2000:]
    (dep,) = fake.deployments.values()
    assert [s["state"] for s in dep["statuses"]] == ["in_progress", "success"]
    assert outcomes().count("done") == 1


def test_pull_request_reviews_count_only_on_the_merged_head_and_latest_per_person(fake):
    merged = "c0" * 20
    fake.add_pull(5, "d0" * 20, merged_into=merged)
    fake.add_review(5, "bob", "APPROVED")
    fake.add_review(5, "carol", "APPROVED", commit="e0" * 20)   # approved an older head
    fake.add_review(5, "erin", "APPROVED")
    fake.add_review(5, "erin", "CHANGES_REQUESTED")             # then changed her mind
    fake.add_pull(6, "f0" * 20, base="release", merged_into=merged)  # merged elsewhere
    fake.add_review(6, "frank", "APPROVED")
    found = open_github(fake).approvals([], "production", 4, merged)
    assert [(a["actor"], a["version"], a["commit"], a["environment"]) for a in found] == [
        ("bob", 4, merged, "production")]


# -- github protect ---------------------------------------------------------------------------

def test_protect_is_idempotent_and_keeps_other_settings(project, fake, tmp_path):
    env = {"GITHUB_TOKEN": TOKEN, "GITHUB_API_URL": fake.base, "GITHUB_REPOSITORY": "acme/llm"}
    suites = yaml.safe_load((project / "llmops.yaml").read_text())["evaluation"]["suites"]
    first = run_cli("github", "protect", "--branch", "main", cwd=project, env=env)
    assert first.returncode == 0, first.stderr[-2000:]
    assert "main: branch protection created" in first.stdout
    assert all(f"main: now requires llmops/{s}" in first.stdout for s in suites)
    assert fake.protection["main"]["required_status_checks"]["contexts"] == [f"llmops/{s}" for s in suites]
    again = run_cli("github", "protect", "--branch", "main", cwd=project, env=env)
    assert again.returncode == 0 and "main: unchanged" in again.stdout and "now requires" not in again.stdout
    assert [r["method"] for r in fake.requests if "/protection" in r["path"]] == ["GET", "PUT", "GET"]

    # A branch protected by hand (reviews, no checks): the reviews stay.
    fake.protection["dev"] = {"required_status_checks": None, "enforce_admins": True,
                              "required_pull_request_reviews": {"required_approving_review_count": 2,
                                                                "dismiss_stale_reviews": True}}
    proc = run_cli("github", "protect", "--branch", "dev", "--check", "llmops/medical", cwd=project, env=env)
    assert proc.returncode == 0, proc.stderr[-2000:]
    dev = fake.protection["dev"]
    assert dev["required_status_checks"]["contexts"] == ["llmops/medical"]
    assert dev["required_pull_request_reviews"]["required_approving_review_count"] == 2 and dev["enforce_admins"] is True
    # One more check on an already protected branch: added, nothing rewritten.
    more = run_cli("github", "protect", "--branch", "dev", "--check", "llmops/medical", "--check", "llmops/safety",
                   cwd=project, env=env)
    assert "dev: now requires llmops/safety" in more.stdout and "dev: already requires llmops/medical" in more.stdout
    assert fake.requests[-1]["method"] == "POST" and fake.requests[-1]["json"] == {"contexts": ["llmops/safety"]}


def test_protect_without_admin_rights_says_which_permission(project, fake):
    fake.fail_next("GET", r"/protection$", 403, body={"message": "Resource not accessible by integration"})
    proc = run_cli("github", "protect", "--branch", "main", cwd=project,
                   env={"GITHUB_TOKEN": TOKEN, "GITHUB_API_URL": fake.base, "GITHUB_REPOSITORY": "acme/llm"})
    assert proc.returncode == 3
    (line,) = proc.stderr.strip().splitlines()
    assert "HTTP 403" in line and "administration: write" in line and TOKEN not in proc.stderr


# -- resilience ---------------------------------------------------------------------------------

def test_a_502_then_201_succeeds(fake):
    said = []
    fake.fail_next("POST", r"/check-runs$", 502)
    out = open_github(fake, said=said).publish_checks(HEAD, [a_check()])
    assert out[0]["action"] == "created" and len(fake.check_runs) == 1
    assert [r["method"] for r in fake.requests if r["path"] == "/repos/acme/llm/check-runs"] == ["POST", "POST"]
    assert any("HTTP 502; retry 1 of 4" in line for line in said)


def waits(lines: list[str]) -> list[float]:
    """The waits the retry lines announce (``… retry N of M in W s``): what the adapter then sleeps."""
    import re

    return [float(m[1]) for line in lines if (m := re.search(r"retry \d+ of \d+ in ([\d.]+) s$", line))]


def test_a_429_waits_retry_after_and_succeeds(fake):
    fake.fail_next("GET", r"/check-runs$", 429, headers={"Retry-After": "1"}, body={"message": "Too Many Requests"})
    said = []
    assert open_github(fake, said=said).publish_checks(HEAD, [a_check()])[0]["action"] == "created"
    assert waits(said) == [1.0]  # Retry-After, not the 0.05 s backoff
    assert [r["method"] for r in fake.requests if r["path"].endswith(f"{HEAD}/check-runs")] == ["GET", "GET"]


def test_a_secondary_rate_limit_waits_retry_after_and_succeeds(fake):
    fake.fail_next("POST", r"/check-runs$", 403, headers={"Retry-After": "1"},
                   body={"message": "You have exceeded a secondary rate limit. Please wait a few minutes."})
    said = []
    out = open_github(fake, said=said).publish_checks(HEAD, [a_check()])
    assert waits(said) == [1.0]  # it honoured Retry-After
    assert out[0]["kind"] == "check_run" and len(fake.check_runs) == 1


def test_an_exhausted_primary_rate_limit_waits_for_its_reset_or_fails_at_once(fake):
    soon = str(int(time.time()) + 1)
    fake.fail_next("POST", r"/check-runs$", 403, headers={"x-ratelimit-remaining": "0", "x-ratelimit-reset": soon},
                   body={"message": "API rate limit exceeded"})
    said = []
    assert open_github(fake, said=said).publish_checks(HEAD, [a_check()])[0]["action"] == "created"
    (wait,) = waits(said)
    assert 0 < wait <= 2.0  # until the reset (plus a second), not the 0.05 s backoff

    from llmops_ci.errors import ExternalFailure

    later = str(int(time.time()) + 3600)
    fake.fail_next("POST", r"/statuses/", 403, headers={"x-ratelimit-remaining": "0", "x-ratelimit-reset": later},
                   body={"message": "API rate limit exceeded"})
    said = []
    forge = open_github(fake, said=said)
    forge._statuses_only = True
    with pytest.raises(ExternalFailure) as err:
        forge.publish_checks(HEAD, [a_check()])
    assert waits(said) == []  # an hour's wait is not slept through
    assert "HTTP 403" in str(err.value) and "rate limited for another 36" in str(err.value)
    assert "max_wait_seconds (60)" in str(err.value)


def test_repeated_5xx_ends_with_exit_3_and_one_line_in_bounded_time(project, fake, tmp_path):
    edit_config(project, lambda d: d.update(forge={"type": "github", "retry": {"attempts": 3, "backoff_seconds": 0.2}}))
    report_ready(project)
    fake.fail_next("GET", r"/check-runs$", 502, times=1000)
    proc = run_cli("report", cwd=project, env=github_env(fake, tmp_path))
    assert proc.returncode == 3, proc.stderr[-2000:]
    errors = [line for line in proc.stderr.splitlines() if not line.startswith(("forge:", "report:"))]
    assert len(errors) == 1 and "HTTP 502" in errors[0] and "after 3 attempts" in errors[0]
    announced = waits(proc.stderr.splitlines())
    assert len(announced) == 2 and sum(announced) < 0.2 * (1 + 2) * 1.1 + 0.01  # backoff 0.2 s, doubled once: bounded
    assert TOKEN not in proc.stderr + proc.stdout


def test_connection_errors_are_retried_then_reported(project, tmp_path):
    from servers import free_port

    dead = f"http://127.0.0.1:{free_port()}"
    edit_config(project, lambda d: d.update(forge={"type": "github", "api_url": dead, "repository": "acme/llm",
                                            "retry": {"attempts": 2, "backoff_seconds": 0.05}}))
    report_ready(project)
    proc = run_cli("report", "--sha", HEAD, cwd=project, env={"GITHUB_TOKEN": TOKEN})
    assert proc.returncode == 3
    assert "cannot reach the API" in proc.stderr and "retry 1 of 1" in proc.stderr


@pytest.mark.parametrize("status, operation, needs", [
    (401, "check-runs", "is not valid for this server"),
    (403, "comments", "pull-requests: write"),
    (404, "deployments", "deployments: write"),
])
def test_refusals_become_one_line_naming_the_permission(fake, status, operation, needs):
    from llmops_ci.errors import ExternalFailure

    fake.add_pull(7, HEAD)
    fake.fail_next("POST" if operation != "check-runs" else "GET", operation, status, times=5,
                   body={"message": {401: "Bad credentials", 403: "Resource not accessible by integration",
                                     404: "Not Found"}[status]})
    forge = open_github(fake)
    call = {"check-runs": lambda: forge.publish_checks(HEAD, [a_check()]),
            "comments": lambda: forge.upsert_report(7, "<!-- m -->", "<!-- m -->"),
            "deployments": lambda: forge.start_deployment("staging", 1, HEAD, "promote")}[operation]
    with pytest.raises(ExternalFailure) as err:
        call()
    (line,) = err.value.lines
    assert f"HTTP {status}" in line and needs in line and TOKEN not in line


def test_auto_detection_needs_a_token_and_says_so(project, tmp_path):
    from llmops_ci.config import load_config
    from llmops_ci.scm import open_forge

    config = load_config(project / "llmops.yaml")
    assert open_forge(config, env={"GITHUB_ACTIONS": "true"}).name == "local"
    assert open_forge(config, env={"GITHUB_ACTIONS": "true", "GITHUB_TOKEN": TOKEN,
                                   "GITHUB_REPOSITORY": "acme/llm"}).name == "github"
    edit_config(project, lambda d: d.update(forge={"type": "github"}))
    from llmops_ci.errors import BadInput

    with pytest.raises(BadInput) as err:
        open_forge(load_config(project / "llmops.yaml"), env={})
    assert "forge.token_env: $GITHUB_TOKEN is empty" in str(err.value)


def test_a_forge_whose_library_is_missing_names_the_extra(project, tmp_path):
    """github3.py made unimportable in the CLI's process, as on an install without the github extra."""
    import sys

    report_ready(project)
    code = ("import sys; sys.modules['github3'] = None; from llmops_ci.cli import main; "
            "sys.exit(main(['report', '--sha', '" + HEAD + "']))")
    proc = subprocess.run([sys.executable, "-c", code], cwd=project, capture_output=True, text=True,
                          env={**os.environ, "GITHUB_ACTIONS": "true", "GITHUB_TOKEN": TOKEN,
                               "GITHUB_REPOSITORY": "acme/llm"})
    assert proc.returncode == 2, proc.stderr[-2000:]
    (line,) = proc.stderr.strip().splitlines()
    assert "forge.type" in line and "pip install 'llmops-ci[github]'" in line and "Traceback" not in proc.stderr


def minimal_results() -> dict:
    """A results.json as evaluate writes it, for the report's plumbing tests (one PASS domain)."""
    return {"schema_version": 1, "created_at": "2026-12-01T00:00:00Z", "run_id": "r1", "verdict": "PASS",
            "passed": True, "model": {"source": "models:/m@candidate", "content_sha256": "ab" * 32, "version": 1},
            "baseline": None, "generation": {"candidate": {"model_loads": 1, "generated": 1, "cached": 0, "batches": 1, "seconds": 0.1},
                           "baseline": None},
            "domains": {"safety": {"verdict": "PASS", "passed": True, "eval_hash": "e" * 64, "hash_parts": {},
                                   "policies": {}, "cases": 1, "gates": [], "summary": {}, "cases_detail": [],
                                   "seed": 0, "suite": "safety", "baseline_reused_from": None}}}
