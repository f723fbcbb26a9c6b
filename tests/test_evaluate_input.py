"""Bad input to `llmops-ci evaluate`: one clear line naming the file, the key and the fix,
exit 2, and nothing written to the registry or the run record. No model is loaded: every one
of these is caught before generation starts."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest
import yaml

from conftest import REPO, run_cli


def add_suite(project: Path, name: str = "triage") -> Path:
    folder = project / "domain_suites" / name
    shutil.copytree(REPO / "tests" / "data" / "suites" / "triage", folder)
    return folder


def add_gate(project: Path, doc: dict) -> Path:
    path = project / "gates" / "mine.yaml"
    path.parent.mkdir(exist_ok=True)
    path.write_text(yaml.safe_dump(doc))
    return path


def evaluate(project: Path, *args: str):
    return run_cli("evaluate", "--config", "llmops.yaml", *args, cwd=project)


def assert_refused_cleanly(project: Path, proc, *needles: str) -> str:
    assert proc.returncode == 2, proc.stderr
    assert "Traceback" not in proc.stderr
    line = proc.stderr.strip().splitlines()[-1]
    for needle in needles:
        assert needle in line, line
    # Nothing happened: no run record, no registry store, no report.
    assert not (project / ".llmops" / "run.json").exists()
    assert not (project / ".llmops" / "mlflow.db").exists()
    assert not (project / ".llmops" / "report").exists()
    return line


def test_malformed_cases_line_names_file_and_line(project, tiny_model):
    folder = add_suite(project)
    lines = (folder / "cases.jsonl").read_text().splitlines()
    lines[3] = lines[3][:-5]  # cut the closing of line 4
    (folder / "cases.jsonl").write_text("\n".join(lines) + "\n")
    proc = evaluate(project, "--model", str(tiny_model), "--suite", "triage")
    assert_refused_cleanly(project, proc, f"{folder / 'cases.jsonl'}:4", "malformed JSON")


def test_case_missing_input_names_the_key(project, tiny_model):
    folder = add_suite(project)
    lines = (folder / "cases.jsonl").read_text().splitlines()
    case = json.loads(lines[1])
    del case["input"]
    lines[1] = json.dumps(case)
    (folder / "cases.jsonl").write_text("\n".join(lines) + "\n")
    proc = evaluate(project, "--model", str(tiny_model), "--suite", "triage")
    assert_refused_cleanly(project, proc, "cases.jsonl:2", "input", "missing required field")


def test_unknown_metric_gets_did_you_mean_from_deepeval(project, tiny_model):
    folder = add_suite(project)
    spec = yaml.safe_load((folder / "suite.yaml").read_text())
    spec["metrics"][0]["type"] = "ExactMatchMetirc"
    (folder / "suite.yaml").write_text(yaml.safe_dump(spec, sort_keys=False))
    proc = evaluate(project, "--model", str(tiny_model), "--suite", "triage")
    assert_refused_cleanly(project, proc, "suite.yaml", "metrics[0].type", "ExactMatchMetirc", "did you mean `ExactMatchMetric`")


def test_gate_naming_a_metric_the_suite_does_not_compute(project, tiny_model):
    add_suite(project)
    gate = add_gate(project, {"suite": "triage", "gates": [{"id": "g", "metric": "exactt", "min": 0.5}]})
    cfg = yaml.safe_load((project / "llmops.yaml").read_text())
    cfg["evaluation"] = {"suites": ["triage"], "gates": [str(gate)]}
    (project / "llmops.yaml").write_text(yaml.safe_dump(cfg))
    proc = evaluate(project, "--model", str(tiny_model))
    # validate catches it too, as the same line
    assert_refused_cleanly(project, proc, str(gate), "gates[0].metric", "computes no metric 'exactt'", "did you mean `exact`")


def test_empty_suite_is_refused(project, tiny_model):
    folder = add_suite(project)
    (folder / "cases.jsonl").write_text("\n\n")
    proc = evaluate(project, "--model", str(tiny_model), "--suite", "triage")
    assert_refused_cleanly(project, proc, "cases.jsonl", "suite has no cases")


def test_unknown_suite_name_suggests_installed(project, tiny_model):
    proc = evaluate(project, "--model", str(tiny_model), "--suite", "medicl")
    assert_refused_cleanly(project, proc, "suite 'medicl' not found", "did you mean `medical`")


def test_baseline_results_that_are_not_results_json(project, tiny_model, tmp_path):
    bogus = tmp_path / "results.json"
    bogus.write_text(json.dumps({"domains": {}}))
    proc = evaluate(project, "--model", str(tiny_model), "--suite", "safety", "--baseline-results", str(bogus))
    assert_refused_cleanly(project, proc, str(bogus), "expected the results.json of an earlier llmops-ci evaluate")


def test_list_suites_shows_the_installed_suites():
    proc = run_cli("evaluate", "--list-suites", "--format", "json")
    assert proc.returncode == 0, proc.stderr
    listed = {s["name"]: s for s in json.loads(proc.stdout)}
    for name in ("medical", "finance", "multilingual", "safety"):
        assert listed[name]["cases"] >= 40
        assert listed[name]["metrics"]
    text = run_cli("evaluate", "--list-suites")
    assert text.returncode == 0 and "medical" in text.stdout


@pytest.mark.parametrize("flag", ["--baseline", "--suite", "--report-dir"])
def test_flag_without_value_is_a_usage_error(project, flag):
    proc = evaluate(project, flag)
    assert proc.returncode == 2 and "expected one argument" in proc.stderr
