"""``llmops-ci report``: put an evaluation's verdicts where reviewers look.

Reads the ``results.json`` that ``evaluate`` wrote and, on the forge this run is on:

- one check per domain, ``llmops/<domain>`` (GitHub check runs — or commit statuses when the
  token cannot create check runs —, GitLab commit statuses, ``.llmops/checks.json`` locally),
  each with the domain's part of the report and annotations on the gate policy line that said
  no and on the cases that failed;
- the whole report as one pull/merge request comment, edited in place on every push (found by
  a hidden marker);
- the job summary (``$GITHUB_STEP_SUMMARY``) when there is one.

It never re-judges anything: what it publishes is what evaluate decided.
"""

from __future__ import annotations

import json
import os
import subprocess
from pathlib import Path

from llmops_ci.config import load_config
from llmops_ci.errors import BadInput
from llmops_ci.scm.base import CHECK_PREFIX, CHECK_SUMMARY_LIMIT, Check, ReadOnlyToken, append_job_summary, marker

LEVEL = {"fail": "failure", "warn": "warning"}
MAX_CASE_ANNOTATIONS = 200  # per domain: enough to point at the pattern, not a wall of notes


def _repo_root(start: Path) -> Path:
    try:
        out = subprocess.run(["git", "rev-parse", "--show-toplevel"], cwd=start, capture_output=True, text=True, timeout=10)
        if out.returncode == 0 and out.stdout.strip():
            return Path(out.stdout.strip())
    except (OSError, subprocess.TimeoutExpired):
        pass
    return start


class Annotator:
    """GitHub annotation objects for one evaluation: the path of each file relative to the
    repository root; a file outside the repository (a shipped suite or policy) is pointed at
    through the llmops.yaml line that names it."""

    def __init__(self, config):
        from llmops_ci.yamlfile import load_yaml

        self.config = config
        self.repo = _repo_root(config.root).resolve()
        self.doc = load_yaml(config.path)
        self._yaml = {}

    def _rel(self, path: Path) -> str | None:
        try:
            return path.resolve().relative_to(self.repo).as_posix()
        except ValueError:
            return None

    def _config_line(self, key: str, name: str) -> tuple[str, int]:
        names = (self.config.data.get("evaluation") or {}).get(key) or []
        index = names.index(name) if name in names else None
        line = self.doc.line_of(("evaluation", key, index) if index is not None else ("evaluation", key)) or 1
        return self._rel(self.config.path) or self.config.path.name, line

    def gate(self, gate: dict, policies: dict) -> dict:
        """``policies``: policy name -> (its entry in evaluation.gates, its file)."""
        from llmops_ci.yamlfile import load_yaml

        ref, path = policies.get(gate["policy"], (None, None))
        rel = self._rel(path) if path else None
        if rel:
            if path not in self._yaml:
                self._yaml[path] = load_yaml(path)
            ids = [g.get("id") for g in self._yaml[path].data.get("gates", [])]
            line = self._yaml[path].line_of(("gates", ids.index(gate["id"]))) if gate["id"] in ids else None
            where = (rel, line or 1)
        else:
            where = self._config_line("gates", ref) if ref else (self._rel(self.config.path) or "llmops.yaml", 1)
        level = LEVEL.get(gate["effective"], "warning") if gate["required"] else "warning"
        return {"path": where[0], "start_line": where[1], "end_line": where[1], "annotation_level": level,
                "title": f"{gate['id']}: {gate['verdict']}"[:255], "message": gate["reason"][:64000]}

    def cases(self, suite_name: str, domain: dict) -> list[dict]:
        from llmops_ci.evaluation.suite import load_configured_suite

        failing = [c for c in domain.get("cases_detail") or []
                   if any(m and m.get("passed") is False for m in (c.get("metrics") or {}).values())]
        if not failing:
            return []
        suite = load_configured_suite(suite_name, self.config)
        cases_file = suite.folder / suite.spec["cases"]
        lines = {}
        if cases_file.is_file():
            for lineno, text in enumerate(cases_file.read_text().splitlines(), start=1):
                try:
                    lines[json.loads(text).get("id")] = lineno
                except (ValueError, AttributeError):
                    continue
        rel = self._rel(cases_file)
        out = []
        for case in failing[:MAX_CASE_ANNOTATIONS]:
            if rel:
                path, line = rel, lines.get(case["id"], 1)
            else:
                path, line = self._config_line("suites", suite_name)
            failed = [name for name, m in case["metrics"].items() if m and m.get("passed") is False]
            out.append({"path": path, "start_line": line, "end_line": line, "annotation_level": "notice",
                        "title": f"case {case['id']}: {', '.join(failed)} failed"[:255],
                        "message": f"output: {str(case.get('output'))[:500]}"})
        return out


def build_checks(config, results: dict, details_url: str | None) -> list[Check]:
    from llmops_ci.evaluation.report import markdown

    from llmops_ci.evaluation.gates import load_policy

    policies = {}
    for ref in (config.data.get("evaluation") or {}).get("gates") or []:
        policy = load_policy(ref, config.root)  # the policies evaluate judged with
        policies[policy.name] = (ref, policy.path)
    annotator = Annotator(config)
    checks = []
    for name, dom in results["domains"].items():
        one = {**results, "verdict": dom["verdict"], "domains": {name: dom}}
        summary = markdown(one, limit=CHECK_SUMMARY_LIMIT, full_report_url=details_url)
        gates = [g for g in dom["gates"] if g["verdict"] != "PASS"]
        counts = {v: sum(1 for g in dom["gates"] if g["verdict"] == v) for v in ("PASS", "FAIL", "INCONCLUSIVE")}
        title = (f"{dom['verdict']}: {counts['PASS']} of {len(dom['gates'])} gates pass"
                 + (f", {counts['FAIL']} fail" if counts["FAIL"] else "")
                 + (f", {counts['INCONCLUSIVE']} inconclusive" if counts["INCONCLUSIVE"] else "")
                 if dom["gates"] else f"{dom['verdict']}: no gate policy, results only")
        annotations = [annotator.gate(g, policies) for g in gates] + annotator.cases(name, dom)
        checks.append(Check(CHECK_PREFIX + name, dom["verdict"], dom["passed"], title, summary, annotations, details_url))
    return checks


def run_report(config_path: str | None, report_dir: str | None = None, sha: str | None = None,
               number: int | None = None, comment: bool = True, progress=print) -> dict:
    from llmops_ci.evaluation.report import markdown, read_results
    from llmops_ci.scm import open_forge

    config = load_config(config_path)
    folder = Path(report_dir) if report_dir else config.root / ".llmops" / "report"
    results = read_results(folder / "results.json", "the evaluation results",
                           "run `llmops-ci evaluate` first, or pass --report-dir with the folder it wrote",
                           "the results.json of llmops-ci evaluate")
    forge = open_forge(config, say=progress)
    sha = sha or forge.head_sha()
    if not sha:
        raise BadInput("report: no commit to attach the checks to (not a git checkout and no CI commit); pass --sha")
    details_url = forge.run_url()
    checks = build_checks(config, results, details_url)
    progress(f"report: {len(checks)} checks on {sha[:12]} ({forge.name})")
    body = markdown(results)
    try:
        published = forge.publish_checks(sha, checks)
    except ReadOnlyToken as exc:
        progress(f"report: {exc}")
        published, comment = [], False
    out = {"forge": forge.name, "sha": sha, "checks": published, "comment": None}
    number = number if number is not None else forge.change_number()
    if comment and number is not None:
        tag = marker(config.data["project"]["name"])
        out["comment"] = forge.upsert_report(number, f"{tag}\n{body}", tag)
        progress(f"report: comment {out['comment']['action']} on #{number}")
    summary = os.environ.get("GITHUB_STEP_SUMMARY")
    if summary:
        append_job_summary(body)
        out["job_summary"] = summary
    return out
