"""Gate policies (``gates/*.yaml``) and their verdicts: PASS, FAIL, INCONCLUSIVE or SKIPPED.

Three kinds of gate, each on one metric and optionally one slice:
  min / max   an absolute floor or ceiling for the statistic (pass rate or mean score)
  compare     paired non-inferiority against the model behind a baseline alias
  parity      every value of a case field (e.g. language) within max_gap of the best
  ratio       the candidate's statistic over the baseline's, both measured in this run
              (performance suites: latency, throughput)
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

from llmops_ci.config import canonical_sha256, find_gate
from llmops_ci.errors import BadInput, ConfigProblems
from llmops_ci.evaluation import stats
from llmops_ci.evaluation.stats import FAIL, INCONCLUSIVE, PASS, SKIPPED
from llmops_ci.evaluation.suite import case_matches
from llmops_ci.schemacheck import apply_defaults, load_schema, schema_problems, suggest
from llmops_ci.yamlfile import load_yaml


QUANTILES = {"p50": 0.5, "p95": 0.95}


def needs_baseline(gate: dict) -> bool:
    return "compare" in gate or "ratio" in gate


@dataclass
class Policy:
    name: str
    path: Path
    spec: dict

    @property
    def suite(self) -> str:
        return self.spec["suite"]

    @property
    def sha256(self) -> str:
        return canonical_sha256(self.spec)


def load_policy(name_or_path: str, root: Path) -> Policy:
    path = find_gate(name_or_path, root)
    if path is None:
        raise BadInput(f"gate policy {name_or_path!r} not found (a file path, or a name shipped in gates/)")
    doc = load_yaml(path)
    problems = schema_problems(doc, "gate.schema.json")
    if problems:
        raise ConfigProblems(problems)
    spec = apply_defaults(doc.data, load_schema("gate.schema.json"))
    for i, gate in enumerate(spec["gates"]):
        kinds = [k for k in ("compare", "parity", "ratio") if k in gate] + (["min/max"] if ("min" in gate or "max" in gate) else [])
        if len(kinds) != 1:
            raise BadInput(f"{doc.file}: gates[{i}] ({gate['id']}): expected exactly one of min/max, compare, parity, "
                           f"ratio (got {', '.join(kinds) or 'none'})")
        if "compare" in gate and gate["stat"] in QUANTILES:
            raise BadInput(f"{doc.file}: gates[{i}].stat: compare decides on paired per-case values, so it takes "
                           f"pass_rate or mean; for {gate['stat']} use ratio")
    ids = [g["id"] for g in spec["gates"]]
    dupes = sorted({i for i in ids if ids.count(i) > 1})
    if dupes:
        raise BadInput(f"{doc.file}: gates: duplicate gate id {dupes[0]!r}")
    return Policy(spec.get("name") or path.stem, path, spec)


def check_policy_against_suite(policy: Policy, metric_names: list[str]) -> None:
    """A gate that names a metric the suite does not compute is bad input."""
    for i, gate in enumerate(policy.spec["gates"]):
        if gate["metric"] not in metric_names:
            raise BadInput(f"{policy.path}: gates[{i}].metric: suite {policy.suite!r} computes no metric "
                           f"{gate['metric']!r} (it computes: {', '.join(metric_names)}){suggest(gate['metric'], metric_names)}")


@dataclass
class GateResult:
    id: str
    policy: str
    metric: str
    kind: str
    verdict: str
    required: bool
    reason: str
    effective: str = ""  # "pass", "fail" or "warn" after the INCONCLUSIVE policy
    candidate: dict = field(default_factory=dict)
    baseline: dict | None = None
    difference: dict | None = None
    slices: dict | None = None
    slice: dict | None = None
    description: str | None = None
    threshold: float | None = None

    def as_dict(self) -> dict:
        return {k: v for k, v in self.__dict__.items()}


def _values(cases: list[dict], metric: str, where: dict | None, stat: str) -> dict[str, float]:
    """case id -> value (1/0 for pass_rate, the score for mean) for cases the metric scored."""
    out = {}
    for case in cases:
        m = case["metrics"].get(metric)
        if m is None or not case_matches(case["fields"], where):
            continue
        out[case["id"]] = (1.0 if m["passed"] else 0.0) if stat == "pass_rate" else float(m["score"])
    return out


def _estimate(values: list[float], stat: str, confidence: float, seed: int) -> dict:
    n = len(values)
    if n == 0:
        return {"n": 0, "value": None, "ci_low": None, "ci_high": None}
    value = sum(values) / n
    if stat in QUANTILES:
        return {"n": n, **stats.quantile_interval(values, QUANTILES[stat], confidence, seed)}
    if stat == "pass_rate":
        low, high = stats.wilson_interval(int(round(sum(values))), n, confidence)
    else:
        d = stats.paired_bootstrap(values, [0.0] * n, confidence=confidence, seed=seed)
        low, high = d.low, d.high
    return {"n": n, "value": value, "ci_low": low, "ci_high": high}


def judge(policy: Policy, candidate: dict, baseline: dict | None, baseline_note: str, inconclusive: str,
          baseline_label: str = "baseline") -> list[GateResult]:
    """Verdicts of every gate in ``policy`` for one suite's results (and the baseline's, if any)."""
    spec = policy.spec
    conf, min_n = spec["confidence"], spec["min_samples"]
    seed = candidate.get("seed", 0)
    mode = spec.get("inconclusive") or inconclusive
    results = []
    for gate in spec["gates"]:
        stat = gate["stat"]
        where = gate.get("slice")
        cand = _values(candidate["cases"], gate["metric"], where, stat)
        est = _estimate(list(cand.values()), stat, conf, seed)
        base = dict(id=gate["id"], policy=policy.name, metric=gate["metric"], required=gate["required"],
                    candidate={"stat": stat, **est}, slice=where, description=gate.get("description"))
        if "compare" in gate:
            res = _compare(gate, cand, baseline, baseline_note, stat, conf, min_n, seed, spec, base, baseline_label)
        elif "parity" in gate:
            res = _parity(gate, candidate, where, stat, conf, seed, base)
        elif "ratio" in gate:
            res = _ratio(gate, est, baseline, baseline_note, stat, conf, min_n, seed, spec, base, baseline_label)
        else:
            res = _absolute(gate, est, min_n, base)
        res.effective = _effective(res.verdict, mode)
        results.append(res)
    return results


def _effective(verdict: str, mode: str) -> str:
    if verdict in (PASS, SKIPPED):
        return "pass"
    if verdict == FAIL:
        return "fail"
    return {"fail": "fail", "pass": "pass", "warn": "warn"}[mode]


def _absolute(gate, est, min_n, base) -> GateResult:
    bound = ("min", gate["min"]) if "min" in gate else ("max", gate["max"])
    if est["n"] < min_n:
        return GateResult(kind="threshold", verdict=INCONCLUSIVE,
                          reason=f"only {est['n']} cases (policy needs at least {min_n})", **base)
    ok = est["value"] >= bound[1] if bound[0] == "min" else est["value"] <= bound[1]
    op = ">=" if bound[0] == "min" else "<="
    return GateResult(kind="threshold", verdict=PASS if ok else FAIL, threshold=bound[1],
                      reason=f"{est['value']:.3f} {'meets' if ok else 'misses'} {op} {bound[1]:g} "
                             f"(n={est['n']}, CI [{est['ci_low']:.3f}, {est['ci_high']:.3f}])", **base)


def _compare(gate, cand, baseline, baseline_note, stat, conf, min_n, seed, spec, base, label) -> GateResult:
    cmp = gate["compare"]
    margin = cmp["margin"]
    if baseline is None:
        if spec["on_missing_baseline"] == "fail":
            return GateResult(kind="compare", verdict=FAIL, reason=f"{baseline_note}; policy on_missing_baseline: fail", **base)
        return GateResult(kind="compare", verdict=SKIPPED,
                          reason=f"{baseline_note}; comparison skipped (policy on_missing_baseline: skip)", **base)
    base_values = _values(baseline["cases"], gate["metric"], gate.get("slice"), stat)
    ids = sorted(set(cand) & set(base_values))
    x = [cand[i] for i in ids]
    y = [base_values[i] for i in ids]
    method = cmp["method"]
    if method == "auto":
        method = "mcnemar" if stat == "pass_rate" else "bootstrap"
    if method == "mcnemar":
        diff = stats.paired_binary_difference([v >= 0.5 for v in x], [v >= 0.5 for v in y], conf)
    else:
        diff = stats.paired_bootstrap(x, y, conf, seed=seed)
    verdict, reason = stats.non_inferiority(diff, margin, min_n)
    b_est = _estimate(y, stat, conf, seed)
    return GateResult(kind="compare", verdict=verdict, reason=f"{reason} vs {label}",
                      baseline={"stat": stat, **b_est}, difference={**diff.as_dict(), "margin": margin}, **base)


def _ratio(gate, est, baseline, baseline_note, stat, conf, min_n, seed, spec, base, label) -> GateResult:
    bounds = gate["ratio"]
    if baseline is None:
        verdict = FAIL if spec["on_missing_baseline"] == "fail" else SKIPPED
        return GateResult(kind="ratio", verdict=verdict, reason=f"{baseline_note}; policy on_missing_baseline: "
                          f"{spec['on_missing_baseline']}", **base)
    b_est = _estimate(list(_values(baseline["cases"], gate["metric"], gate.get("slice"), stat).values()), stat, conf, seed)
    if min(est["n"], b_est["n"]) < min_n:
        return GateResult(kind="ratio", verdict=INCONCLUSIVE, baseline={"stat": stat, **b_est},
                          reason=f"only {min(est['n'], b_est['n'])} cases (policy needs at least {min_n})", **base)
    if not b_est["value"]:
        return GateResult(kind="ratio", verdict=INCONCLUSIVE, baseline={"stat": stat, **b_est},
                          reason=f"{label}'s {stat} is 0: no ratio", **base)
    ratio = est["value"] / b_est["value"]
    ok = ratio <= bounds.get("max", float("inf")) and ratio >= bounds.get("min", 0.0)
    limits = " and ".join(f"{op} {bounds[k]:g}" for k, op in (("min", ">="), ("max", "<=")) if k in bounds)
    return GateResult(kind="ratio", verdict=PASS if ok else FAIL, baseline={"stat": stat, **b_est},
                      threshold=bounds.get("max", bounds.get("min")),
                      difference={"estimate": ratio, "ci_low": ratio, "ci_high": ratio, "n": est["n"], "method": "ratio",
                                  "p_value": None},
                      reason=f"{stat} {est['value']:.4g} / {label}'s {b_est['value']:.4g} = {ratio:.3f} "
                             f"{'meets' if ok else 'misses'} {limits}", **base)


def _parity(gate, candidate, where, stat, conf, seed, base) -> GateResult:
    par = gate["parity"]
    groups: dict[str, list[float]] = {}
    for case in candidate["cases"]:
        m = case["metrics"].get(gate["metric"])
        if m is None or not case_matches(case["fields"], where) or par["by"] not in case["fields"]:
            continue
        v = (1.0 if m["passed"] else 0.0) if stat == "pass_rate" else float(m["score"])
        groups.setdefault(str(case["fields"][par["by"]]), []).append(v)
    slices = {k: _estimate(v, stat, conf, seed) for k, v in sorted(groups.items())}
    if len(slices) < 2:
        return GateResult(kind="parity", verdict=INCONCLUSIVE, slices=slices,
                          reason=f"fewer than two values of {par['by']!r} to compare", **base)
    small = [k for k, e in slices.items() if e["n"] < par["min_samples"]]
    best = max(slices, key=lambda k: slices[k]["value"])
    worst = min(slices, key=lambda k: slices[k]["value"])
    gap = slices[best]["value"] - slices[worst]["value"]
    if small:
        return GateResult(kind="parity", verdict=INCONCLUSIVE, slices=slices,
                          reason=f"{par['by']} {', '.join(small)} have fewer than {par['min_samples']} cases", **base)
    ok = gap <= par["max_gap"]
    return GateResult(kind="parity", verdict=PASS if ok else FAIL, slices=slices,
                      reason=f"gap {gap:.3f} between {par['by']}={best} and {par['by']}={worst} "
                             f"{'within' if ok else 'exceeds'} {par['max_gap']:g}", **base)


def domain_verdict(gates: list[GateResult]) -> tuple[str, bool]:
    """(verdict, passed) of a domain: its required gates decide, advisory ones only report."""
    required = [g for g in gates if g.required]
    passed = all(g.effective != "fail" for g in required)
    if any(g.verdict == FAIL for g in required):
        return FAIL, passed
    if any(g.verdict == INCONCLUSIVE for g in required):
        return INCONCLUSIVE, passed
    return PASS, passed
