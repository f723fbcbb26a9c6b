"""`llmops-ci evaluate` end to end on real tiny models: gates tell a trained model from an
untrained one, every output format agrees, the cache makes re-runs free, and the production
model's stored results are reused instead of loading it again."""

from __future__ import annotations

import json
import shutil
from xml.etree import ElementTree as ET

import pytest
import yaml

from conftest import REPO, run_cli


def evaluate(project, *args):
    return run_cli("evaluate", "--config", "llmops.yaml", "--format", "json", *args, cwd=project)


def reports(project) -> dict:
    folder = project / ".llmops" / "report"
    return {"json": json.loads((folder / "results.json").read_text()), "md": (folder / "summary.md").read_text(),
            "junit": ET.parse(folder / "junit.xml").getroot(), "html": (folder / "report.html").read_text()}


def assert_formats_agree(out: dict):
    results = out["json"]
    for name, dom in results["domains"].items():
        # Markdown: the domain heading carries the verdict, each gate row its verdict.
        assert f"{name}: {dom['verdict']}" in out["md"]
        for g in dom["gates"]:
            assert f"`{g['id']}`" in out["md"]
        # JUnit: one testsuite per domain, one testcase per gate, failures = required gates that fail.
        suite = out["junit"].find(f"testsuite[@name='llmops/{name}']")
        assert suite is not None and int(suite.get("tests")) == len(dom["gates"])
        failing = {g["id"] for g in dom["gates"] if g["required"] and g["effective"] == "fail"}
        assert {c.get("name") for c in suite.findall("testcase") if c.find("failure") is not None} == failing
        assert (not failing) == dom["passed"]
        # HTML: the verdict and a plot per domain.
        assert f"{name}: <span class='{dom['verdict']}'>" in out["html"]
    assert out["html"].count("data:image/png;base64,") >= len(results["domains"])


@pytest.mark.slow
def test_gates_separate_trained_from_untrained(project, trained_model, untrained_model):
    good = evaluate(project, "--model", str(trained_model))
    assert good.returncode == 0, good.stderr[-3000:]
    good_out = reports(project)
    assert good_out["json"]["verdict"] == "PASS"
    assert_formats_agree(good_out)
    escal = next(g for g in good_out["json"]["domains"]["medical"]["gates"] if g["id"] == "escalates-emergencies")
    assert escal["verdict"] == "PASS" and escal["candidate"]["value"] >= 0.95

    bad = evaluate(project, "--model", str(untrained_model))
    assert bad.returncode == 1, bad.stderr[-3000:]
    assert "required gates failed" in bad.stderr
    bad_out = reports(project)
    assert bad_out["json"]["verdict"] == "FAIL"
    assert_formats_agree(bad_out)
    for domain in ("medical", "safety", "multilingual"):
        assert bad_out["json"]["domains"][domain]["verdict"] == "FAIL"
    record = json.loads((project / ".llmops" / "run.json").read_text())
    assert record["stages"]["evaluate"]["status"] == "refused"
    assert record["stages"]["evaluate"]["result"]["domains"]["medical"]["verdict"] == "FAIL"


@pytest.mark.slow
def test_second_run_makes_no_model_calls(project, trained_model):
    first = evaluate(project, "--model", str(trained_model), "--suite", "safety")
    assert first.returncode == 0, first.stderr[-2000:]
    gen1 = json.loads(first.stdout)["generation"]["candidate"]
    assert gen1["generated"] == 47 and gen1["model_loads"] == 1
    second = evaluate(project, "--model", str(trained_model), "--suite", "safety")
    assert second.returncode == 0
    gen2 = json.loads(second.stdout)["generation"]["candidate"]
    assert gen2["generated"] == 0 and gen2["model_loads"] == 0 and gen2["cached"] == 47
    assert json.loads(second.stdout)["domains"] == json.loads(first.stdout)["domains"] | {
        k: {**v, "mlflow_run_id": json.loads(second.stdout)["domains"][k]["mlflow_run_id"]}
        for k, v in json.loads(first.stdout)["domains"].items()}


@pytest.mark.slow
def test_production_results_are_reused_not_recomputed(project, trained_model, tmp_path):
    from llmops_ci.config import load_config
    from llmops_ci.registry import open_registry

    assert run_cli("register", "--config", "llmops.yaml", "--model", str(trained_model), cwd=project).returncode == 0
    registry = open_registry(load_config(project / "llmops.yaml"))
    registry.set_alias("production", 1)
    # A different candidate (a copy with one extra file has a different content hash).
    candidate = tmp_path / "candidate"
    shutil.copytree(trained_model, candidate)
    (candidate / "NOTES.md").write_text("candidate v2\n")

    first = evaluate(project, "--model", str(candidate), "--suite", "medical")
    assert first.returncode == 0, first.stderr[-2000:]
    out1 = json.loads(first.stdout)
    assert out1["baseline"]["version"] == 1
    # Production's stored results came from the candidate-run of the same content? No: it was never
    # evaluated, so this first comparison loads it once and stores its results.
    assert out1["generation"]["baseline"]["model_loads"] == 1

    second = evaluate(project, "--model", str(candidate), "--suite", "medical")
    assert second.returncode == 0, second.stderr[-2000:]
    out2 = json.loads(second.stdout)
    assert out2["generation"]["baseline"] is None  # production model not loaded at all
    assert "reusing stored results of production (version 1)" in second.stderr
    gate = next(g for g in out2["domains"]["medical"]["gates"] if g["id"] == "escalation-no-regression")
    assert gate["verdict"] == "PASS"


@pytest.mark.slow
def test_comparison_with_a_different_evaluation_hash_is_refused(project, trained_model, tmp_path):
    assert evaluate(project, "--model", str(trained_model), "--suite", "safety").returncode == 0
    saved = tmp_path / "baseline-results.json"
    shutil.copy(project / ".llmops" / "report" / "results.json", saved)
    # Same suite, changed decoding: results are no longer comparable.
    suites = project / "domain_suites"
    shutil.copytree(REPO / "domain_suites" / "safety", suites / "safety")
    spec = yaml.safe_load((suites / "safety" / "suite.yaml").read_text())
    spec["generation"]["max_new_tokens"] = 8
    (suites / "safety" / "suite.yaml").write_text(yaml.safe_dump(spec))
    proc = evaluate(project, "--model", str(trained_model), "--suite", "safety", "--baseline-results", str(saved))
    assert proc.returncode == 2
    line = proc.stderr.strip().splitlines()[-1]
    assert "baseline results were computed under evaluation hash" in line and "differs in: generation" in line
    assert "refused" in line


@pytest.mark.slow
def test_missing_baseline_alias_is_reported_and_skipped_per_policy(project, trained_model):
    proc = evaluate(project, "--model", str(trained_model), "--suite", "finance")
    assert proc.returncode == 0, proc.stderr[-2000:]
    assert "no model has alias production yet" in proc.stderr
    dom = reports(project)["json"]["domains"]["finance"]
    gate = next(g for g in dom["gates"] if g["id"] == "numeric-accuracy-no-regression")
    assert gate["verdict"] == "SKIPPED" and "on_missing_baseline: skip" in gate["reason"]


@pytest.mark.slow
def test_all_five_suites_give_per_domain_verdicts_in_every_format(project, trained_model, tmp_path):
    """The issue's command: the four domain suites and the ONNX performance suite against production.

    The shipped performance policy's ratios suit a quiet runner; on a shared 2-core CI machine the
    same model timed twice can differ by more, so this project loosens them (the ratio logic
    itself is tested deterministically in test_performance.py)."""
    from llmops_ci.config import load_config
    from llmops_ci.registry import open_registry

    assert run_cli("register", "--config", "llmops.yaml", "--model", str(trained_model), cwd=project).returncode == 0
    registry = open_registry(load_config(project / "llmops.yaml"))
    registry.set_alias("production", 1)
    policy = yaml.safe_load((REPO / "gates" / "performance.yaml").read_text())
    for gate in policy["gates"]:
        if "ratio" in gate:
            gate["ratio"] = {"max": 4.0} if "max" in gate["ratio"] else {"min": 0.25}
    (project / "gates").mkdir(exist_ok=True)
    (project / "gates" / "performance.yaml").write_text(yaml.safe_dump(policy))
    candidate = tmp_path / "candidate"
    shutil.copytree(trained_model, candidate)
    (candidate / "NOTES.md").write_text("candidate v2\n")

    proc = evaluate(project, "--model", str(candidate), *[a for s in ("medical", "finance", "multilingual", "safety",
                                                                       "performance") for a in ("--suite", s)])
    assert proc.returncode == 0, proc.stderr[-3000:]
    out = reports(project)
    assert set(out["json"]["domains"]) == {"medical", "finance", "multilingual", "safety", "performance"}
    assert_formats_agree(out)
    perf = {g["id"]: g for g in out["json"]["domains"]["performance"]["gates"]}
    assert perf["onnx-parity"]["verdict"] == "PASS"
    for gate_id in ("latency-p50-vs-production", "latency-p95-vs-production", "throughput-vs-production"):
        assert perf[gate_id]["kind"] == "ratio" and perf[gate_id]["verdict"] == "PASS"
        assert perf[gate_id]["baseline"]["n"] == 40  # production was timed in this run
    details = out["json"]["performance"]["performance"]
    assert details["production"]["version"] == 1 and details["candidate"]["provider"] == "CPUExecutionProvider"
    # The ONNX export sits in MLflow beside the transformers model (an unregistered candidate: its evaluation run).
    onnx_uri = json.loads(proc.stdout)["onnx"]["performance"]
    import mlflow

    from llmops_ci.registry.mlflow_registry import use_tracking_uri

    use_tracking_uri(load_config(project / "llmops.yaml").tracking_uri)
    listed = mlflow.artifacts.list_artifacts(artifact_uri=onnx_uri.rsplit("/", 1)[0])
    assert [a.path.rsplit("/", 1)[-1] for a in listed] == ["model.onnx"]
