"""Run one suite on one model: render prompts, generate (cached), score every case."""

from __future__ import annotations

from llmops_ci.errors import BadInput
from llmops_ci.evaluation import metrics as metric_lib
from llmops_ci.evaluation.generation import Generator
from llmops_ci.evaluation.suite import Suite, case_matches

# Fields of a case that are its content, not something to slice by.
CONTENT_FIELDS = ("input", "expected", "pattern", "context")


def render_prompts(suite: Suite) -> tuple[list, list[str]]:
    """(model prompts, plain-text inputs for the metrics); chat suites give message lists."""
    from jinja2 import TemplateError

    spec = suite.spec["prompt"]
    from llmops_ci.evaluation.domain import compile_template

    template = compile_template(suite.template)
    prompts, inputs = [], []
    for case in suite.cases:
        try:
            text = template.render(**case)
        except TemplateError as exc:
            raise BadInput(f"{suite.display}: prompt.template: case {case['id']!r}: {exc}") from None
        inputs.append(text)
        if spec["chat"]:
            messages = ([{"role": "system", "content": spec["system"]}] if spec.get("system") else [])
            prompts.append(messages + [{"role": "user", "content": text}])
        else:
            prompts.append(text)
    return prompts, inputs


def decoding_of(suite: Suite) -> dict:
    gen = suite.spec["generation"]
    return {"max_new_tokens": gen["max_new_tokens"], "stop": gen["stop"], "do_sample": False}


def run_suite(suite: Suite, generator: Generator, judge=None) -> dict:
    """Per-case outputs and metric results, plus per-slice summaries."""
    prompts, inputs = render_prompts(suite)
    raw_outputs = generator.generate(prompts, decoding_of(suite))
    knowledge = suite.domain.knowledge if suite.domain else {}
    shared = {spec["name"]: metric_lib.build_metric(spec, None, suite.name, judge, knowledge)
              for spec in suite.spec["metrics"] if not metric_lib.is_per_case(spec)}
    cases = []
    for case, text, raw in zip(suite.cases, inputs, raw_outputs):
        # The domain's guardrails act on the answer, as they would in serving.
        output = suite.domain.guard(raw, case) if suite.domain else raw
        scored = {}
        for spec in suite.spec["metrics"]:
            if not case_matches(case, spec.get("when")):
                continue
            metric = shared.get(spec["name"]) or metric_lib.build_metric(spec, case, suite.name, judge, knowledge)
            scored[spec["name"]] = metric_lib.measure(metric, spec, case, text, output, suite.name)
        fields = {k: v for k, v in case.items() if k not in CONTENT_FIELDS}
        cases.append({"id": case["id"], "fields": fields, "input": text, "expected": case.get("expected"),
                      "output": output, "raw_output": raw, "metrics": scored})
    return {"suite": suite.name, "eval_hash": suite.eval_hash(), "hash_parts": suite.hash_parts(),
            "seed": suite.spec["seed"], "cases": cases, "summary": summarize(suite, cases)}


def summarize(suite: Suite, cases: list[dict]) -> dict:
    """metric -> {"all": {...}, "language=de": {...}, ...} with n, pass_rate and mean score."""
    out: dict = {}
    for spec in suite.spec["metrics"]:
        name = spec["name"]
        groups: dict[str, list[dict]] = {"all": []}
        for case in cases:
            m = case["metrics"].get(name)
            if m is None:
                continue
            groups["all"].append(m)
            for field in suite.spec["slices"]:
                value = case["fields"].get(field)
                for v in (value if isinstance(value, list) else [value]):
                    if v is not None:
                        groups.setdefault(f"{field}={v}", []).append(m)
        out[name] = {k: {"n": len(v), "pass_rate": (sum(m["passed"] for m in v) / len(v)) if v else None,
                         "mean": (sum(m["score"] for m in v) / len(v)) if v else None}
                     for k, v in groups.items()}
    return out
