"""The serving-performance suite: the ONNX parity check catches a diverging export, ratio gates
decide on the candidate's statistic over the baseline's, quantiles carry a bootstrap interval."""

from __future__ import annotations

import shutil

import numpy as np
import pytest

from llmops_ci.evaluation import gates as gate_lib
from llmops_ci.evaluation import stats
from llmops_ci.evaluation.suite import load_suite


def _policy(tmp_path, gates: list[dict]):
    import yaml

    path = tmp_path / "perf-gates.yaml"
    path.write_text(yaml.safe_dump({"suite": "performance", "min_samples": 10, "gates": gates}))
    return gate_lib.load_policy(str(path), tmp_path)


def _results(latencies: list[float], throughputs: list[float] | None = None) -> dict:
    throughputs = throughputs or [1000.0] * len(latencies)
    return {"seed": 0, "cases": [{"id": f"c{i}", "fields": {}, "metrics": {
        "latency_ms": {"score": lat, "passed": True}, "throughput": {"score": tp, "passed": True}}}
        for i, (lat, tp) in enumerate(zip(latencies, throughputs))]}


@pytest.mark.slow
def test_parity_check_catches_an_export_with_an_altered_weight(untrained_model, tmp_path):
    import onnx
    from onnx import numpy_helper

    from llmops_ci.evaluation.performance import export_onnx, run_performance
    from llmops_ci.provenance import sha256_tree

    suite = load_suite("performance")
    policy = gate_lib.load_policy("performance", tmp_path)
    honest = run_performance(suite, {"candidate": untrained_model}, tmp_path / "honest", progress=lambda *_: None)["candidate"]
    assert honest["performance"]["max_logit_difference"] < suite.spec["performance"]["tolerance"]
    parity = next(g for g in gate_lib.judge(policy, honest, None, "no baseline", "fail") if g.id == "onnx-parity")
    assert parity.verdict == "PASS"

    # The same export with one weight nudged: what a broken exporter or a corrupted file gives.
    exported = export_onnx(untrained_model, tmp_path / "honest" / "onnx" / sha256_tree(untrained_model))
    graph = onnx.load(str(exported))
    weight = max(graph.graph.initializer, key=lambda t: int(np.prod(t.dims)))
    values = numpy_helper.to_array(weight).copy()
    values.flat[0] += 0.5
    weight.CopyFrom(numpy_helper.from_array(values, weight.name))
    altered_dir = tmp_path / "altered" / "onnx" / sha256_tree(untrained_model)
    altered_dir.mkdir(parents=True)
    onnx.save(graph, str(altered_dir / "model.onnx"))
    broken = run_performance(suite, {"candidate": untrained_model}, tmp_path / "altered", progress=lambda *_: None)["candidate"]
    assert broken["performance"]["max_logit_difference"] > suite.spec["performance"]["tolerance"]
    parity = next(g for g in gate_lib.judge(policy, broken, None, "no baseline", "fail") if g.id == "onnx-parity")
    assert parity.verdict == "FAIL" and parity.required
    assert gate_lib.domain_verdict(gate_lib.judge(policy, broken, None, "no baseline", "fail")) == ("FAIL", False)


def test_ratio_gate_fails_a_slower_candidate_and_passes_an_equal_one(tmp_path):
    policy = _policy(tmp_path, [{"id": "p95", "metric": "latency_ms", "stat": "p95", "ratio": {"max": 1.5}},
                                {"id": "tput", "metric": "throughput", "stat": "mean", "ratio": {"min": 0.8}}])
    base = _results([10.0 + i % 5 for i in range(20)])
    slow = _results([2 * (10.0 + i % 5) for i in range(20)], [500.0] * 20)
    got = {g.id: g for g in gate_lib.judge(policy, slow, base, "", "fail")}
    assert got["p95"].verdict == "FAIL" and got["p95"].difference["estimate"] == pytest.approx(2.0)
    assert got["tput"].verdict == "FAIL" and got["tput"].difference["estimate"] == pytest.approx(0.5)
    same = {g.id: g for g in gate_lib.judge(policy, base, base, "", "fail")}
    assert same["p95"].verdict == "PASS" and same["tput"].verdict == "PASS"
    # Too few cases: INCONCLUSIVE, not a verdict on noise.
    few = {g.id: g for g in gate_lib.judge(policy, _results([1.0] * 5), _results([1.0] * 5), "", "fail")}
    assert few["p95"].verdict == "INCONCLUSIVE"
    # No baseline: the policy's on_missing_baseline (default skip).
    assert {g.verdict for g in gate_lib.judge(policy, base, None, "no model has alias production yet", "fail")} == {"SKIPPED"}


def test_compare_on_a_quantile_is_refused(tmp_path):
    from llmops_ci.errors import BadInput

    with pytest.raises(BadInput, match=r"gates\[0\]\.stat: compare .* for p95 use ratio"):
        _policy(tmp_path, [{"id": "x", "metric": "latency_ms", "stat": "p95", "compare": {"margin": 0.1}}])


def test_quantile_interval_matches_numpy_and_covers_it():
    rng = np.random.default_rng(3)
    data = list(rng.lognormal(0, 0.5, 200))
    for q in (0.5, 0.95):
        got = stats.quantile_interval(data, q, 0.95, seed=1)
        assert got["value"] == pytest.approx(float(np.quantile(data, q)))
        assert got["ci_low"] <= got["value"] <= got["ci_high"]


def test_performance_suite_rejects_generation_metrics(tmp_path):
    from llmops_ci.errors import BadInput

    from conftest import REPO

    folder = tmp_path / "perf"
    shutil.copytree(REPO / "domain_suites" / "performance", folder)
    text = (folder / "suite.yaml").read_text().replace("type: Latency", "type: Latncy")
    (folder / "suite.yaml").write_text(text)
    with pytest.raises(BadInput, match=r"metrics\[1\]\.type: a performance suite measures .* did you mean `Latency`"):
        load_suite(str(folder))
